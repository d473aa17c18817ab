// Wiring the official azure-iothub service SDK (an oracle) to the local hub: its REST client dials {HostName}:443,
// so it gets an https.Agent that goes to 127.0.0.1:<hub port> instead.
import type https from 'node:https';
import { Client, Registry } from 'azure-iothub';
import { hubAgent } from './hubHttp';

/** The private REST client both Registry and Client keep; `setOptions` is the SDK's own hook for `http.agent`. */
interface WithRestClient {
  _restApiClient: { setOptions(options: { http: { agent: https.Agent } }): void };
}

/** Official service SDK objects pointed at the local hub; `close()` releases every one of them. */
export interface ServiceOracle {
  registry: Registry;
  client: Client;
  agent: https.Agent;
  close(): Promise<void>;
}

/**
 * Builds `Registry` and `Client` from the hub's service connection string (host name kept as is, so SAS audiences are
 * the real ones) with an agent that dials 127.0.0.1:`port` and trusts `ca`.
 * Neither class exposes `setOptions`; their REST client does, and the SDK's own constructors call it the same way
 * (`setOptions({ http: { agent } })`), so this replaces only the agent.
 */
export function serviceOracle(serviceConnectionString: string, port: number, ca: string): ServiceOracle {
  const agent = hubAgent(port, ca);
  const registry = Registry.fromConnectionString(serviceConnectionString);
  const client = Client.fromConnectionString(serviceConnectionString);
  (registry as unknown as WithRestClient)._restApiClient.setOptions({ http: { agent } });
  (client as unknown as WithRestClient)._restApiClient.setOptions({ http: { agent } });
  return {
    registry,
    client,
    agent,
    async close() {
      await client.close();
      agent.destroy();
    },
  };
}

/**
 * Runs `fn` with extra environment variables (and without the ones named in `unset`), then restores process.env
 * exactly, whatever happens.
 */
export async function withEnv<T>(env: Record<string, string>, unset: string[], fn: () => Promise<T>): Promise<T> {
  const names = [...Object.keys(env), ...unset];
  const saved = new Map(names.map((n) => [n, process.env[n]]));
  for (const n of unset) delete process.env[n];
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [n, v] of saved) {
      if (v === undefined) delete process.env[n];
      else process.env[n] = v;
    }
  }
}
