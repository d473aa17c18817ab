// The local hub's HTTPS API: routes each request on the TLS port to the service REST subset (registry, twins,
// methods) or edgeHub's module-to-module methods, after authentication; every failure becomes an IoT Hub error.
import type http from 'node:http';
import { HubError } from './hubErrors';
import { sendError, type BodyStyle } from './http/errors';
import { createAuthenticator } from './http/httpAuth';
import { createMethodApi } from './http/methodApi';
import { matchRoute, type IdentityRoute } from './http/paths';
import { createRegistryApi } from './http/registryApi';
import { createTwinApi } from './http/twinApi';
import type { ServiceApiHub } from './types';

/**
 * Builds the request handler for every non-WebSocket HTTPS request on the hub's TLS port.
 *
 * IoT Hub's service REST API, authenticated with `SharedAccessSignature sr={hostName}&sig=…&se=…&skn={policy.name}`:
 * `GET|PATCH|PUT /twins/{d}[/modules/{m}]` (`If-Match` → 412), `POST /twins/{d}[/modules/{m}]/methods`,
 * `GET|PUT|DELETE /devices/{d}[/modules/{m}]`, `GET /devices`, `GET /devices/{d}/modules`.
 * edgeHub's module-to-module methods: `POST /twins/{d}[/modules/{m}]/methods` with a module SAS token and
 * `x-ms-edge-moduleId: {ownDevice}/{ownModule}` naming the same identity.
 * Every path accepts (and does not require) `api-version`. Failures are IoT Hub-shaped JSON error bodies.
 *
 * @param hub the hub whose registry, twins and methods are served.
 * @param policy the shared access policy (name and base64 key) service tokens must be signed with.
 * @returns a handler that always answers.
 * @throws never (neither the factory nor the handler; core failures become HTTP errors, 500 at worst).
 */
export function createHttpApi(
  hub: ServiceApiHub,
  policy: { name: string; key: string },
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const authenticate = createAuthenticator(hub, policy);
  const twins = createTwinApi(hub);
  const methods = createMethodApi(hub);
  const registry = createRegistryApi(hub);

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let style: BodyStyle = 'legacy';
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'https://local-hub');
      } catch {
        throw new HubError('ArgumentInvalid', 'The request URL is malformed.');
      }
      const route = matchRoute(url.pathname);
      if (!route) throw new HubError('NotFound', `No resource at ${url.pathname}.`);
      // Direct methods answer in IoT Hub's newer JSON error shape, everything else in the legacy one.
      if (route.kind === 'methods') style = 'json';
      authenticate(req, route);
      if (route.kind === 'devices') return registry.listDevices(req, res);
      const target = route as IdentityRoute;
      switch (route.kind) {
        case 'twin':
          return await twins(req, res, target);
        case 'methods':
          return await methods(req, res, target);
        case 'device':
          return await registry.device(req, res, target);
        case 'modules':
          return registry.listModules(req, res, target);
        case 'module':
          return await registry.module(req, res, target);
      }
    } catch (err) {
      // The rest of a rejected body is not worth reading: close the connection after answering.
      if (!req.readableEnded && !res.headersSent) res.setHeader('connection', 'close');
      sendError(res, HubError.from(err), style);
      if (!req.readableEnded) req.resume();
    }
  }

  return (req, res) => {
    handle(req, res).catch(() => {
      // handle() answers every failure itself; this only guards against a failure while answering.
      if (!res.writableEnded) res.destroy();
    });
  };
}
