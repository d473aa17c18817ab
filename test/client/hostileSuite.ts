// The hostile MQTT server (hostileServer.ts) set up for a describe block of the client's hostile-server specs: one
// server for the block, every client shut down and the server back to broker-like answers after each test, and
// nothing may escape to the process (uncaughtException / unhandledRejection) during the block or any test.
import assert from 'node:assert/strict';
import {
  ClientError,
  IoTHubModuleClient,
  type ClientOptions,
  type ConnectionState,
  type Message,
} from '../../src/index';
import { until } from '../helpers/until';
import { closeClients, track } from './clientSupport';
import { HostileServer, type Peer } from './hostileServer';

/** The module key every hostile-server client signs with. */
export const KEY = Buffer.alloc(32, 7).toString('base64');
/** Where module d/m receives its input messages. */
export const INPUT_PREFIX = 'devices/d/modules/m/inputs/';

/** What a client reported in the background. */
export interface Observed {
  background: Error[];
  states: ConnectionState[];
}

/** The helpers a hostile-server spec uses (see {@link useHostileServer}). */
export interface HostileSuite {
  /** A client for module d/m of the hostile server, short timeouts, tracked (shut down after each test). */
  makeClient: (options?: ClientOptions) => { client: IoTHubModuleClient; seen: Observed };
  /** Waits until `peer` has SUBSCRIBEd to `topic`. */
  subscribed: (peer: Peer, topic: string) => Promise<void>;
  /**
   * A client whose handler (set by `attach`) collects into `got`, and the server side once it SUBSCRIBEd to `filter`.
   */
  collecting: <T>(
    filter: string,
    attach: (client: IoTHubModuleClient, got: T[]) => void,
  ) => Promise<{ client: IoTHubModuleClient; seen: Observed; got: T[]; peer: Peer }>;
  /** A client collecting its input messages, and the server side once it subscribed to its inputs. */
  inputClient: () => Promise<{ client: IoTHubModuleClient; seen: Observed; got: Message[]; peer: Peer }>;
  /** The protocol errors among what a client reported in the background. */
  protocolErrors: (seen: Observed) => ClientError[];
}

/**
 * Starts a hostile server for the calling describe block (handed to `use` once started) and installs the checks
 * around each test. Call inside `describe`.
 */
export function useHostileServer(use: (server: HostileServer) => void): HostileSuite {
  let server: HostileServer;
  const escaped: unknown[] = [];
  const onEscaped = (err: unknown): void => {
    escaped.push(err);
  };

  before(async () => {
    process.on('uncaughtException', onEscaped);
    process.on('unhandledRejection', onEscaped);
    server = await HostileServer.start();
    use(server);
  });

  after(async () => {
    process.removeListener('uncaughtException', onEscaped);
    process.removeListener('unhandledRejection', onEscaped);
    await server?.close();
    assert.deepEqual(escaped, [], 'no uncaughtException / unhandledRejection during the suite');
  });

  afterEach(async () => {
    await closeClients();
    server.reset();
    // Let anything a shut-down client might still throw surface before judging this test.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(escaped.splice(0), [], 'no uncaughtException / unhandledRejection in this test');
  });

  const suite: HostileSuite = {
    makeClient(options: ClientOptions = {}) {
      const client = track(
        IoTHubModuleClient.createFromConnectionString(
          `HostName=localhost;DeviceId=d;ModuleId=m;SharedAccessKey=${KEY};GatewayHostName=localhost:${server.port}`,
          { serverVerificationCert: server.caCert, operationTimeout: 1, connectionRetryInterval: 1, ...options },
        ),
      );
      const seen: Observed = { background: [], states: [] };
      client.onBackgroundException = (e) => seen.background.push(e);
      client.onConnectionStateChange = (info) => seen.states.push(info.state);
      return { client, seen };
    },
    async subscribed(peer, topic) {
      await until(
        () => peer.subscribes.some((s) => s.subscriptions.some((x) => x.topic === topic)),
        `SUBSCRIBE ${topic}`,
        5000,
      );
    },
    async collecting<T>(filter: string, attach: (client: IoTHubModuleClient, got: T[]) => void) {
      const { client, seen } = suite.makeClient();
      const got: T[] = [];
      attach(client, got);
      const peer = await server.nextPeer(0);
      await suite.subscribed(peer, filter);
      return { client, seen, got, peer };
    },
    inputClient() {
      return suite.collecting<Message>(`${INPUT_PREFIX}#`, (client, got) => {
        client.onMessageReceived = (m) => {
          got.push(m);
        };
      });
    },
    protocolErrors(seen) {
      return seen.background.filter((e): e is ClientError => e instanceof ClientError && e.code === 'protocol-error');
    },
  };
  return suite;
}
