// Node-RED plugin `iothub-local-hub-panel`: admin HTTP endpoints behind the editor's "Local hub" sidebar tab
// (modules, recent upstream messages, desired properties, direct methods) for the development local hub.
import fs from 'node:fs';
import {
  discoverHubs,
  hasEdgeEnvironment,
  hubRequest,
  localHubSettings,
  ownLocalHub,
  recentUpstream,
  sharedLocalHub,
} from '../src/index';
import type { HubDiscovery, PanelHub } from '../src/index';
import { defaultConnectionType } from './shared/connectionDefault';
import { convertEdgeModuleFlow, type FlowNode } from './shared/edgeModuleMigration';

interface Request {
  params: Record<string, string>;
  body?: unknown;
}
interface Response {
  status(code: number): Response;
  json(body: unknown): void;
}
type Handler = (req: Request, res: Response) => void;
type Middleware = (req: Request, res: Response, next: () => void) => void;

/** The parts of `RED` a plugin uses. */
interface RedPluginApi {
  plugins: { registerPlugin(id: string, definition: Record<string, unknown>): void };
  httpAdmin: {
    get(path: string, auth: Middleware, handler: Handler): void;
    put(path: string, auth: Middleware, handler: Handler): void;
    post(path: string, auth: Middleware, handler: Handler): void;
  };
  auth: { needsPermission(permission: string): Middleware };
}

const BASE = '/iothub-local-hub';
/** Upstream message bodies are cut to this many characters in the panel. */
const PREVIEW_CHARS = 500;

type Target =
  | { kind: 'local'; hub: PanelHub; source: 'shared' | 'in-process' }
  | { kind: 'remote'; discovery: HubDiscovery; ca: string };

/** The hub the panel shows: the one shared by `npm start`, the one the runtime started, or one in another process. */
async function target(): Promise<Target | undefined> {
  const shared = sharedLocalHub();
  if (shared) return { kind: 'local', hub: shared, source: 'shared' };
  const own = await ownLocalHub().catch(() => undefined);
  if (own) return { kind: 'local', hub: own, source: 'in-process' };
  for (const discovery of discoverHubs(localHubSettings.discoveryDir)) {
    try {
      return { kind: 'remote', discovery, ca: fs.readFileSync(discovery.caCertPath, 'utf8') };
    } catch {
      // The announcing hub went away: try the next.
    }
  }
  return undefined;
}

function bodyText(body: Buffer): string {
  const text = body.toString('utf8');
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS)}…` : text;
}

function fail(res: Response, status: number, message: string): void {
  res.status(status).json({ error: message });
}

/** The panel's view of a hub. */
async function state(t: Target | undefined): Promise<Record<string, unknown>> {
  if (!t) return { source: 'none', modules: [], messages: [] };
  if (t.kind === 'local') {
    const { hub } = t;
    return {
      source: t.source,
      hostName: hub.hostName,
      port: hub.port,
      modules: hub.listModules().map((m) => {
        const twin = hub.getTwin(m.deviceId, m.moduleId);
        return {
          deviceId: m.deviceId,
          moduleId: m.moduleId,
          connected: hub.isConnected(`${m.deviceId}/${m.moduleId}`),
          desired: twin.properties.desired,
          reported: twin.properties.reported,
        };
      }),
      messages: recentUpstream(hub)
        .reverse()
        .map((m) => ({
          at: m.enqueuedTime,
          deviceId: m.deviceId,
          moduleId: m.moduleId,
          outputName: m.outputName,
          properties: m.properties,
          contentType: m.systemProperties['$.ct'],
          body: bodyText(m.body),
        })),
    };
  }
  const { discovery: d, ca } = t;
  const devices = await hubRequest(d, ca, 'GET', '/devices');
  const modules: Array<Record<string, unknown>> = [];
  for (const dev of (Array.isArray(devices.body) ? devices.body : []) as Array<{ deviceId: string }>) {
    const list = await hubRequest(d, ca, 'GET', `/devices/${encodeURIComponent(dev.deviceId)}/modules`);
    for (const m of (Array.isArray(list.body) ? list.body : []) as Array<{
      moduleId: string;
      connectionState?: string;
    }>) {
      const twin = await hubRequest(
        d,
        ca,
        'GET',
        `/twins/${encodeURIComponent(dev.deviceId)}/modules/${encodeURIComponent(m.moduleId)}`,
      );
      const props = (twin.body as { properties?: { desired?: unknown; reported?: unknown } } | undefined)?.properties;
      modules.push({
        deviceId: dev.deviceId,
        moduleId: m.moduleId,
        connected: m.connectionState === 'Connected',
        desired: props?.desired,
        reported: props?.reported,
      });
    }
  }
  return { source: 'remote', hostName: d.hostName, port: d.port, modules, messages: [], remote: true };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export = function register(RED: RedPluginApi): void {
  RED.plugins.registerPlugin('iothub-local-hub-panel', { type: 'iothub-local-hub-panel' });
  const read = RED.auth.needsPermission('iothub-local-hub.read');
  const write = RED.auth.needsPermission('iothub-local-hub.write');
  const guard =
    (work: (req: Request, res: Response) => Promise<void>): Handler =>
    (req, res) => {
      work(req, res).catch((err: unknown) => {
        // Hub errors (unknown module 404, bad patch 400) keep their status; anything else is the hub being unreachable.
        const status = (err as { httpStatus?: unknown }).httpStatus;
        fail(res, typeof status === 'number' ? status : 502, err instanceof Error ? err.message : String(err));
      });
    };

  RED.httpAdmin.get(
    `${BASE}/state`,
    read,
    guard(async (_req, res) => {
      res.json(await state(await target()));
    }),
  );

  // The connection kind a new iothub-module-client config node starts with (the config dialog asks).
  RED.httpAdmin.get(
    `${BASE}/connection-default`,
    read,
    guard(async (_req, res) => {
      const place = {
        edgeEnvironment: hasEdgeEnvironment(process.env),
        sharedLocalHub: sharedLocalHub() !== undefined,
        ownLocalHub: (await ownLocalHub()) !== undefined,
        announcedHubs: discoverHubs(localHubSettings.discoveryDir).length,
      };
      res.json({ connectionType: defaultConnectionType(place), ...place });
    }),
  );

  // Body: { nodes: an exported flow }. Answers the flow with the archived edge-module pack's nodes converted.
  RED.httpAdmin.post(
    `${BASE}/convert-edge-module`,
    RED.auth.needsPermission('flows.write'),
    guard(async (req, res) => {
      const nodes = isObject(req.body) ? req.body.nodes : undefined;
      if (
        !Array.isArray(nodes) ||
        !nodes.every((n) => isObject(n) && typeof n.id === 'string' && typeof n.type === 'string')
      ) {
        return fail(res, 400, 'nodes must be an array of flow nodes with id and type');
      }
      res.json(convertEdgeModuleFlow(nodes as FlowNode[]));
    }),
  );

  // Body: a desired-properties patch (merge; null deletes a key), as the service's twin PATCH.
  RED.httpAdmin.put(
    `${BASE}/modules/:deviceId/:moduleId/desired`,
    write,
    guard(async (req, res) => {
      const { deviceId, moduleId } = req.params as { deviceId: string; moduleId: string };
      if (!isObject(req.body)) return fail(res, 400, 'the desired patch must be a JSON object');
      const t = await target();
      if (!t) return fail(res, 404, 'no local hub is running');
      if (t.kind === 'local') {
        const twin = t.hub.updateDesired(deviceId, moduleId, req.body);
        res.json({ desired: twin.properties.desired });
        return;
      }
      const answer = await hubRequest(
        t.discovery,
        t.ca,
        'PATCH',
        `/twins/${encodeURIComponent(deviceId)}/modules/${encodeURIComponent(moduleId)}`,
        { properties: { desired: req.body } },
      );
      if (answer.status >= 300) return fail(res, answer.status, JSON.stringify(answer.body));
      res.json({ desired: (answer.body as { properties?: { desired?: unknown } }).properties?.desired });
    }),
  );

  // Body: { methodName, payload, responseTimeoutInSeconds }; the answer is { status, payload } or the hub's error.
  RED.httpAdmin.post(
    `${BASE}/modules/:deviceId/:moduleId/methods`,
    write,
    guard(async (req, res) => {
      const { deviceId, moduleId } = req.params as { deviceId: string; moduleId: string };
      const body = req.body;
      if (!isObject(body) || typeof body.methodName !== 'string' || body.methodName.trim() === '')
        return fail(res, 400, 'methodName is required');
      const timeout = Number(body.responseTimeoutInSeconds ?? 10);
      const invocation = {
        methodName: body.methodName.trim(),
        payload: body.payload ?? null,
        responseTimeoutInSeconds: Number.isFinite(timeout) && timeout > 0 ? timeout : 10,
      };
      const t = await target();
      if (!t) return fail(res, 404, 'no local hub is running');
      if (t.kind === 'local') {
        try {
          res.json(await t.hub.invokeMethod(deviceId, moduleId, invocation));
        } catch (err) {
          const e = err as { httpStatus?: number; errorCode?: number; message?: string };
          res.status(e.httpStatus ?? 500).json({ error: e.message, errorCode: e.errorCode });
        }
        return;
      }
      const answer = await hubRequest(
        t.discovery,
        t.ca,
        'POST',
        `/twins/${encodeURIComponent(deviceId)}/modules/${encodeURIComponent(moduleId)}/methods`,
        invocation,
      );
      if (answer.status >= 300) return void res.status(answer.status).json({ error: JSON.stringify(answer.body) });
      res.json(answer.body);
    }),
  );
};
