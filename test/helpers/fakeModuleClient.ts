// A module client with just what the config node's parts use (getTwin, sendMethodResponse), its calls recorded.
import type { IoTHubModuleClient, MethodResponse, TwinDocument } from '../../src/index';

/** A client whose twin has desired `$version` `desiredVersion`; counts twin reads and keeps method responses. */
export function fakeModuleClient(desiredVersion = 3): {
  client: IoTHubModuleClient;
  twinReads: number;
  responses: MethodResponse[];
} {
  const fake = {
    twinReads: 0,
    responses: [] as MethodResponse[],
    client: {
      getTwin: async (): Promise<TwinDocument> => {
        fake.twinReads++;
        return { desired: { $version: desiredVersion }, reported: { $version: 1 } };
      },
      sendMethodResponse: async (r: MethodResponse): Promise<void> => {
        fake.responses.push(r);
      },
    } as unknown as IoTHubModuleClient,
  };
  return fake;
}
