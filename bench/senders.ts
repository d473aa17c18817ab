// The three ways of sending a QoS 1 output event that the benchmark compares — this client, raw mqtt.js publishing
// the same topic, the official azure-iot-device ModuleClient — and their connection factories.
import mqtt, { type MqttClient } from 'mqtt';
import { Message as SdkMessage, ModuleClient as SdkModuleClient } from 'azure-iot-device';
import { Mqtt as SdkMqtt } from 'azure-iot-device-mqtt';
import { IoTHubModuleClient, Message } from '../src/index';
import type { BenchModule, HubReady } from './hubProcess';
import { clientIdOf, jsonPayload, OUTPUT, outputTopic, PROPS, sasToken, usernameOf } from './wire';

/** One implementation sending message number `i`. */
export interface Sender {
  name: string;
  send(i: number): Promise<void>;
  close(): Promise<void>;
}

export type SenderKind = 'ours' | 'raw' | 'sdk';

export const SENDER_NAMES: Record<SenderKind, string> = {
  ours: 'this client',
  raw: 'raw mqtt.js',
  sdk: 'azure-iot-device',
};

/** A connected client of this library. */
export async function connectOurs(ready: HubReady, m: BenchModule): Promise<IoTHubModuleClient> {
  const client = IoTHubModuleClient.createFromConnectionString(m.connectionString, {
    serverVerificationCert: ready.caCert,
  });
  await client.connect();
  return client;
}

/**
 * A connected raw mqtt.js client with the module's identity (clean: false, no reconnects), its socket set to
 * TCP_NODELAY as this client does (mqtt.js leaves Nagle on, which makes request/response exchanges stall ~40 ms).
 */
export async function connectRaw(ready: HubReady, m: BenchModule): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtts://localhost:${ready.port}`, {
    clientId: clientIdOf(m),
    username: usernameOf(ready.hostName, m),
    password: sasToken(ready.hostName, m),
    protocolVersion: 4,
    clean: false,
    reconnectPeriod: 0,
    ca: ready.caCert,
  });
  client.on('error', () => undefined);
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return client;
}

/** An open official SDK ModuleClient. */
export async function connectSdk(ready: HubReady, m: BenchModule): Promise<SdkModuleClient> {
  const client = SdkModuleClient.fromConnectionString(m.connectionString, SdkMqtt);
  await client.setOptions({ ca: ready.caCert });
  await client.open();
  return client;
}

/** A sender of `size`-byte JSON output events with PROPS, content type application/json, utf-8. */
export async function makeSender(kind: SenderKind, ready: HubReady, m: BenchModule, size = 200): Promise<Sender> {
  const name = SENDER_NAMES[kind];
  switch (kind) {
    case 'ours': {
      const client = await connectOurs(ready, m);
      return {
        name,
        send: (i) => {
          const msg = new Message(jsonPayload(i, size), { contentType: 'application/json', contentEncoding: 'utf-8' });
          msg.customProperties = { ...PROPS };
          return client.sendMessageToOutput(msg, OUTPUT);
        },
        close: () => client.shutdown(),
      };
    }
    case 'raw': {
      const client = await connectRaw(ready, m);
      // The same topic this client sends, computed once (raw mqtt.js does no per-message encoding work).
      const topic = outputTopic(m);
      return {
        name,
        send: (i) =>
          new Promise<void>((resolve, reject) => {
            client.publish(topic, jsonPayload(i, size), { qos: 1 }, (err) => (err ? reject(err) : resolve()));
          }),
        close: async () => {
          await client.endAsync();
        },
      };
    }
    case 'sdk': {
      const client = await connectSdk(ready, m);
      return {
        name,
        send: async (i) => {
          const msg = new SdkMessage(jsonPayload(i, size));
          msg.contentType = 'application/json';
          msg.contentEncoding = 'utf-8';
          for (const [k, v] of Object.entries(PROPS)) msg.properties.add(k, v);
          await client.sendOutputEvent(OUTPUT, msg);
        },
        close: async () => {
          await client.close();
        },
      };
    }
  }
}

/** Sends `n` messages all at once and waits for every acknowledgement; returns seconds. */
export async function allInFlight(send: (i: number) => Promise<void>, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  const pending = new Array<Promise<void>>(n);
  for (let i = 0; i < n; i += 1) pending[i] = send(i);
  await Promise.all(pending);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Sends `n` messages one after the other, each after the previous acknowledgement; returns seconds. */
export async function oneAtATime(send: (i: number) => Promise<void>, n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i += 1) await send(i);
  return Number(process.hrtime.bigint() - start) / 1e9;
}
