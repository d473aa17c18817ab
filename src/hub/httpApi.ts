// The local hub's HTTPS API: IoT Hub's service REST subset (twins, methods, registry) and edgeHub module-to-module methods.
import { randomBytes, createHash } from 'node:crypto';
import type http from 'node:http';
import { parseSasToken, verifySas, type ParsedSas } from './sas';
import type { DeviceIdentity, HubErrorShape, LocalHubApi, MethodInvocation, ModuleIdentity, Twin, TwinPatch } from './types';

/** Largest request body accepted (IoT Hub's own limits are lower per section; this only stops abuse). */
const MAX_BODY_BYTES = 256 * 1024;
// IoT Hub identity rules: up to 128 characters from this set (device and module ids alike).
const ID_PATTERN = /^[A-Za-z0-9\-.+%_#*?!(),:=@$']{1,128}$/;
// What IoT Hub reports for times it never recorded.
const NEVER = '0001-01-01T00:00:00Z';

/** The IoT Hub errors this API answers with: HTTP status, numeric code and the `ErrorCode:` name. */
const ERRORS = {
  ArgumentInvalid: [400, 400004],
  IotHubUnauthorizedAccess: [401, 401002],
  DeviceNotFound: [404, 404001],
  ModuleNotFound: [404, 404010],
  DeviceNotOnline: [404, 404103],
  NotFound: [404, 404000],
  MethodNotAllowed: [405, 405000],
  DeviceAlreadyExists: [409, 409001],
  ModuleAlreadyExistsOnDevice: [409, 409301],
  PreconditionFailed: [412, 412002],
  MessageTooLarge: [413, 413002],
  ThrottlingException: [429, 429001],
  ServerError: [500, 500001],
  NotImplemented: [501, 501000],
  ServiceUnavailable: [503, 503000],
  GatewayTimeout: [504, 504101],
} as const satisfies Record<string, readonly [number, number]>;

type ErrorName = keyof typeof ERRORS;

/**
 * A failure to send back. IoT Hub answers in two shapes, and the official service SDK (azure-iothub's
 * `Http.parseErrorBody`) only understands the first:
 * - legacy: `{"Message":"ErrorCode:<Name>;<text>","ExceptionMessage":"Tracking ID:…"}` (registry, twins, auth);
 * - json: `{"Message":"{\"errorCode\":404103,\"trackingId\":…,\"message\":…,\"info\":{…},\"timestampUtc\":…}","ExceptionMessage":""}`
 *   (direct methods), which azure-iothub reports by HTTP status only, exactly as against the real service.
 */
class ApiError extends Error {
  readonly status: number;
  readonly code: number;
  constructor(readonly errorName: ErrorName, message: string, readonly style: 'legacy' | 'json' = 'legacy', status?: number, code?: number) {
    super(message);
    this.status = status ?? ERRORS[errorName][0];
    this.code = code ?? ERRORS[errorName][1];
  }
}

function trackingId(): string {
  return randomBytes(16).toString('hex');
}

function errorBody(err: ApiError): string {
  const id = trackingId();
  const now = new Date();
  if (err.style === 'json') {
    const inner = { errorCode: err.code, trackingId: id, message: err.message, info: {}, timestampUtc: now.toISOString() };
    return JSON.stringify({ Message: JSON.stringify(inner), ExceptionMessage: '' });
  }
  // `;` separates the code from the text in the legacy shape: keep it out of the text.
  return JSON.stringify({
    Message: `ErrorCode:${err.errorName};${err.message.replace(/;/g, ',')}`,
    ExceptionMessage: `Tracking ID:${id}-G:0-TimeStamp:${now.toISOString()}`,
  });
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { 'content-type': 'application/json; charset=utf-8' } : {}),
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function sendError(res: http.ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = errorBody(err);
  res.writeHead(err.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    // IoT Hub names the error in a header too; clients may read it without parsing the body.
    'iothub-errorcode': err.errorName,
  });
  res.end(text);
}

/** Reads the whole body (at most MAX_BODY_BYTES) and parses it as JSON; empty → undefined. */
async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new ApiError('MessageTooLarge', `Request body is larger than ${MAX_BODY_BYTES} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ApiError('MessageTooLarge', `Request body is larger than ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError('ArgumentInvalid', 'The request body is not valid JSON.');
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isHubError(err: unknown): err is HubErrorShape {
  return err instanceof Error && typeof (err as HubErrorShape).httpStatus === 'number' && typeof (err as HubErrorShape).errorCode === 'number';
}

/** Maps a core failure (HubErrorShape or anything else) to an ApiError in the given body style. */
function fromHubError(err: unknown, style: 'legacy' | 'json'): ApiError {
  // The endpoint decides the body shape, whichever helper raised the error.
  if (err instanceof ApiError) return err.style === style ? err : new ApiError(err.errorName, err.message, style, err.status, err.code);
  if (!isHubError(err)) return new ApiError('ServerError', err instanceof Error ? err.message : String(err), style);
  const known = (Object.keys(ERRORS) as ErrorName[]).find((name) => ERRORS[name][1] === err.errorCode);
  const byStatus: Record<number, ErrorName> = { 400: 'ArgumentInvalid', 401: 'IotHubUnauthorizedAccess', 404: 'NotFound', 409: 'DeviceAlreadyExists', 412: 'PreconditionFailed', 429: 'ThrottlingException', 504: 'GatewayTimeout' };
  const name = known ?? byStatus[err.httpStatus] ?? 'ServerError';
  return new ApiError(name, err.message, style, err.httpStatus, err.errorCode);
}

/** Strips quotes and a weak marker from an `If-Match` value. */
function unquoteEtag(value: string): string {
  const v = value.trim().replace(/^W\//, '');
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** A stable pseudo etag for registry entries (IoT Hub's are opaque base64 strings). */
function stableEtag(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('base64').slice(0, 12);
}

/** A stable pseudo generation id for devices (the registry keeps one only for modules). */
function stableGenerationId(deviceId: string): string {
  const digits = createHash('sha256').update(deviceId).digest().readBigUInt64BE(0) % 10n ** 18n;
  return `6${digits.toString().padStart(17, '0')}`;
}

function authenticationJson(identity: { primaryKey: string; secondaryKey: string; x509Thumbprints: string[] }): Record<string, unknown> {
  const [primaryThumbprint = null, secondaryThumbprint = null] = identity.x509Thumbprints;
  return {
    symmetricKey: { primaryKey: identity.primaryKey, secondaryKey: identity.secondaryKey },
    x509Thumbprint: { primaryThumbprint, secondaryThumbprint },
    type: identity.x509Thumbprints.length > 0 ? 'selfSigned' : 'sas',
  };
}

/**
 * Computes the merge patch that turns `current` into `wanted` (absent keys → `null`, nested objects recursively), so
 * that a PUT (replace) can go through the core's merge-only `updateDesired`.
 */
function replacementPatch(current: Record<string, unknown>, wanted: Record<string, unknown>): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(current)) {
    if (key.startsWith('$')) continue;
    if (!(key in wanted)) patch[key] = null;
  }
  for (const [key, value] of Object.entries(wanted)) {
    if (key.startsWith('$')) continue;
    const old = current[key];
    if (isObject(old) && isObject(value)) {
      const nested = replacementPatch(old, value);
      if (Object.keys(nested).length > 0) patch[key] = nested;
    } else if (JSON.stringify(old) !== JSON.stringify(value)) {
      patch[key] = value;
    }
  }
  return patch;
}

interface Route {
  kind: 'twin' | 'methods' | 'devices' | 'device' | 'modules' | 'module';
  deviceId?: string;
  moduleId?: string;
}

/** Splits and decodes the path, then matches it against the supported resources. */
function matchRoute(pathname: string): Route | undefined {
  const raw = pathname.split('/').slice(1);
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop();
  let seg: string[];
  try {
    seg = raw.map((s) => decodeURIComponent(s));
  } catch {
    throw new ApiError('ArgumentInvalid', 'The request path is not correctly percent-encoded.');
  }
  const [a, d, b, m, c] = seg;
  const n = seg.length;
  if (a === 'twins' && n === 2) return { kind: 'twin', deviceId: d! };
  if (a === 'twins' && n === 3 && b === 'methods') return { kind: 'methods', deviceId: d! };
  if (a === 'twins' && n === 4 && b === 'modules') return { kind: 'twin', deviceId: d!, moduleId: m! };
  if (a === 'twins' && n === 5 && b === 'modules' && c === 'methods') return { kind: 'methods', deviceId: d!, moduleId: m! };
  if (a === 'devices' && n === 1) return { kind: 'devices' };
  if (a === 'devices' && n === 2) return { kind: 'device', deviceId: d! };
  if (a === 'devices' && n === 3 && b === 'modules') return { kind: 'modules', deviceId: d! };
  if (a === 'devices' && n === 4 && b === 'modules') return { kind: 'module', deviceId: d!, moduleId: m! };
  return undefined;
}

/** Who made the request: the service (shared access policy) or a module (edgeHub module-to-module call). */
type Caller = { kind: 'service' } | { kind: 'module'; deviceId: string; moduleId: string };

/**
 * Builds the request handler for every non-WebSocket HTTPS request on the hub's TLS port.
 *
 * Service REST (IoT Hub B7), authenticated with `SharedAccessSignature sr={hostName}&sig=…&se=…&skn={policy.name}`:
 * `GET|PATCH|PUT /twins/{d}[/modules/{m}]` (`If-Match` → 412), `POST /twins/{d}[/modules/{m}]/methods`,
 * `GET|PUT|DELETE /devices/{d}[/modules/{m}]`, `GET /devices`, `GET /devices/{d}/modules`.
 * Module-to-module (edgeHub B6): `POST /twins/{d}[/modules/{m}]/methods` with a module SAS token and
 * `x-ms-edge-moduleId: {ownDevice}/{ownModule}` naming the same identity.
 * Every path accepts (and does not require) `api-version`. Failures are IoT Hub-shaped JSON error bodies.
 *
 * @param hub the hub whose registry, twins and methods are served.
 * @param policy the shared access policy (name and base64 key) service tokens must be signed with.
 * @returns a handler that always answers.
 * @throws never (neither the factory nor the handler; core failures become HTTP errors, 500 at worst).
 */
export function createHttpApi(
  hub: LocalHubApi,
  policy: { name: string; key: string },
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const hostLower = hub.hostName.toLowerCase();

  function devices(): DeviceIdentity[] {
    return hub.listDevices();
  }

  function findDevice(deviceId: string): DeviceIdentity | undefined {
    return hub.getDevice ? hub.getDevice(deviceId) : devices().find((dev) => dev.deviceId === deviceId);
  }

  function deviceJson(dev: DeviceIdentity): Record<string, unknown> {
    const hasModules = hub.listModules().some((mod) => mod.deviceId === dev.deviceId);
    return {
      deviceId: dev.deviceId,
      generationId: stableGenerationId(dev.deviceId),
      etag: stableEtag(dev.deviceId, dev.primaryKey, dev.secondaryKey, ...dev.x509Thumbprints),
      connectionState: hub.isConnected(dev.deviceId) ? 'Connected' : 'Disconnected',
      status: 'enabled',
      statusReason: null,
      connectionStateUpdatedTime: NEVER,
      statusUpdatedTime: NEVER,
      lastActivityTime: NEVER,
      cloudToDeviceMessageCount: 0,
      authentication: authenticationJson(dev),
      capabilities: { iotEdge: hasModules },
    };
  }

  function moduleJson(mod: ModuleIdentity): Record<string, unknown> {
    return {
      moduleId: mod.moduleId,
      managedBy: '',
      deviceId: mod.deviceId,
      generationId: mod.generationId,
      etag: stableEtag(mod.deviceId, mod.moduleId, mod.primaryKey, mod.secondaryKey, ...mod.x509Thumbprints),
      connectionState: hub.isConnected(`${mod.deviceId}/${mod.moduleId}`) ? 'Connected' : 'Disconnected',
      connectionStateUpdatedTime: NEVER,
      lastActivityTime: NEVER,
      cloudToDeviceMessageCount: 0,
      authentication: authenticationJson(mod),
    };
  }

  function twinJson(twin: Twin, route: Route): Record<string, unknown> {
    const clientId = route.moduleId === undefined ? route.deviceId! : `${route.deviceId}/${route.moduleId}`;
    const dev = findDevice(route.deviceId!);
    return {
      deviceId: twin.deviceId,
      ...(twin.moduleId !== undefined ? { moduleId: twin.moduleId } : {}),
      etag: twin.etag,
      deviceEtag: dev ? stableEtag(dev.deviceId, dev.primaryKey, dev.secondaryKey) : '',
      status: 'enabled',
      statusUpdateTime: NEVER,
      connectionState: hub.isConnected(clientId) ? 'Connected' : 'Disconnected',
      lastActivityTime: NEVER,
      cloudToDeviceMessageCount: 0,
      authenticationType: 'sas',
      x509Thumbprint: { primaryThumbprint: null, secondaryThumbprint: null },
      modelId: '',
      version: twin.version,
      tags: twin.tags,
      properties: twin.properties,
    };
  }

  /** Ensures the device (and module) exist; the error names what is missing. */
  function requireIdentity(route: Route, style: 'legacy' | 'json'): void {
    if (!findDevice(route.deviceId!)) throw new ApiError('DeviceNotFound', `Device ${route.deviceId} not registered.`, style);
    if (route.moduleId !== undefined && !hub.getModule(route.deviceId!, route.moduleId)) {
      throw new ApiError('ModuleNotFound', `Module ${route.moduleId} not registered on device ${route.deviceId}.`, style);
    }
  }

  function authenticate(req: http.IncomingMessage, route: Route, style: 'legacy' | 'json'): Caller {
    const unauthorized = (why: string): ApiError => new ApiError('IotHubUnauthorizedAccess', `Unauthorized: ${why}`, style);
    const header = req.headers.authorization;
    const parsed: ParsedSas | undefined = typeof header === 'string' ? parseSasToken(header.trim()) : undefined;
    if (!parsed) throw unauthorized('missing or malformed SharedAccessSignature');
    const now = Math.floor(Date.now() / 1000);
    if (parsed.skn !== undefined) {
      // Service token: scoped to the hub itself and signed with the shared access policy's key.
      if (parsed.skn !== policy.name) throw unauthorized(`unknown shared access policy ${parsed.skn}`);
      if (parsed.resource.toLowerCase().replace(/\/+$/, '') !== hostLower) throw unauthorized('token audience is not this hub');
      if (!verifySas(parsed, [policy.key], now)) throw unauthorized('bad signature or expired token');
      return { kind: 'service' };
    }
    // Module token: only edgeHub's module-to-module method call accepts it, and only with a matching
    // x-ms-edge-moduleId header (edgeHub refuses a caller that claims another identity).
    if (route.kind !== 'methods') throw unauthorized('a device or module token cannot call this API');
    const parts = parsed.resource.split('/');
    if (parts.length !== 5 || parts[0]!.toLowerCase() !== hostLower || parts[1] !== 'devices' || parts[3] !== 'modules') {
      throw unauthorized('token is not a module token of this hub');
    }
    const deviceId = parts[2]!;
    const moduleId = parts[4]!;
    const claimed = req.headers['x-ms-edge-moduleid'];
    if (claimed !== `${deviceId}/${moduleId}`) throw unauthorized('x-ms-edge-moduleId does not match the token identity');
    const mod = hub.getModule(deviceId, moduleId);
    if (!mod || !verifySas(parsed, [mod.primaryKey, mod.secondaryKey], now)) throw unauthorized('bad signature or expired token');
    return { kind: 'module', deviceId, moduleId };
  }

  function checkIfMatch(req: http.IncomingMessage, etag: string): void {
    const header = req.headers['if-match'];
    if (header === undefined) return;
    const wanted = unquoteEtag(header);
    if (wanted !== '*' && wanted !== etag) {
      throw new ApiError('PreconditionFailed', `Precondition failed: the etag ${wanted} does not match the current etag ${etag}.`);
    }
  }

  async function handleTwin(req: http.IncomingMessage, res: http.ServerResponse, route: Route): Promise<void> {
    requireIdentity(route, 'legacy');
    const current = hub.getTwin(route.deviceId!, route.moduleId);
    if (req.method === 'GET') {
      send(res, 200, twinJson(current, route), { etag: `"${current.etag}"` });
      return;
    }
    if (req.method !== 'PATCH' && req.method !== 'PUT') throw new ApiError('MethodNotAllowed', `${req.method} is not supported on twins.`);
    const body = await readJson(req);
    if (!isObject(body)) throw new ApiError('ArgumentInvalid', 'The twin must be a JSON object.');
    const properties = body.properties;
    if (properties !== undefined && properties !== null && !isObject(properties)) throw new ApiError('ArgumentInvalid', 'properties must be a JSON object.');
    if (isObject(properties) && properties.reported !== undefined) throw new ApiError('ArgumentInvalid', 'Reported properties cannot be changed by the service.');
    const desired = isObject(properties) ? properties.desired : undefined;
    if (desired !== undefined && desired !== null && !isObject(desired)) throw new ApiError('ArgumentInvalid', 'properties.desired must be a JSON object.');
    const tags = body.tags;
    if (tags !== undefined && tags !== null && !isObject(tags)) throw new ApiError('ArgumentInvalid', 'tags must be a JSON object.');
    const change: TwinPatch = {};
    if (isObject(tags)) change.tags = tags;
    if (isObject(desired)) change.properties = { desired };
    const ifMatch = req.headers['if-match'];
    let twin: Twin;
    try {
      if (req.method === 'PATCH' && hub.updateTwin) twin = hub.updateTwin(route.deviceId!, route.moduleId, change, ifMatch);
      else if (req.method === 'PUT' && hub.replaceTwin) twin = hub.replaceTwin(route.deviceId!, route.moduleId, { tags: change.tags ?? {}, properties: { desired: change.properties?.desired ?? {} } }, ifMatch);
      else twin = changeThroughDesired(req, route, current, change);
    } catch (err) {
      throw fromHubError(err, 'legacy');
    }
    send(res, 200, twinJson(twin, route), { etag: `"${twin.etag}"` });
  }

  /** For a hub without updateTwin/replaceTwin: etag check here, desired changes through updateDesired, no tags. */
  function changeThroughDesired(req: http.IncomingMessage, route: Route, current: Twin, change: TwinPatch): Twin {
    checkIfMatch(req, current.etag);
    const wantedDesired = change.properties?.desired ?? {};
    const tagsChange = req.method === 'PUT' ? replacementPatch(current.tags, change.tags ?? {}) : (change.tags ?? {});
    if (Object.keys(tagsChange).length > 0) throw new ApiError('NotImplemented', 'This hub does not support changing twin tags.');
    const patch = req.method === 'PUT' ? replacementPatch(current.properties.desired, wantedDesired) : wantedDesired;
    return Object.keys(patch).length > 0 ? hub.updateDesired(route.deviceId!, route.moduleId, patch) : current;
  }

  function parseInvocation(body: unknown): MethodInvocation {
    if (!isObject(body)) throw new ApiError('ArgumentInvalid', 'The method request must be a JSON object.', 'json');
    const { methodName, payload, responseTimeoutInSeconds, connectTimeoutInSeconds } = body;
    if (typeof methodName !== 'string' || methodName === '') throw new ApiError('ArgumentInvalid', 'methodName is required.', 'json');
    const invocation: MethodInvocation = { methodName, payload: payload === undefined ? null : payload };
    // IoT Hub's documented ranges: response timeout 5..300 s (default 30), connect timeout 0..300 s (default 0).
    if (responseTimeoutInSeconds !== undefined && responseTimeoutInSeconds !== null) {
      if (typeof responseTimeoutInSeconds !== 'number' || !Number.isFinite(responseTimeoutInSeconds) || responseTimeoutInSeconds < 5 || responseTimeoutInSeconds > 300) {
        throw new ApiError('ArgumentInvalid', 'responseTimeoutInSeconds must be a number from 5 to 300.', 'json');
      }
      invocation.responseTimeoutInSeconds = responseTimeoutInSeconds;
    }
    if (connectTimeoutInSeconds !== undefined && connectTimeoutInSeconds !== null) {
      if (typeof connectTimeoutInSeconds !== 'number' || !Number.isFinite(connectTimeoutInSeconds) || connectTimeoutInSeconds < 0 || connectTimeoutInSeconds > 300) {
        throw new ApiError('ArgumentInvalid', 'connectTimeoutInSeconds must be a number from 0 to 300.', 'json');
      }
      invocation.connectTimeoutInSeconds = connectTimeoutInSeconds;
    }
    return invocation;
  }

  async function handleMethods(req: http.IncomingMessage, res: http.ServerResponse, route: Route): Promise<void> {
    if (req.method !== 'POST') throw new ApiError('MethodNotAllowed', `${req.method} is not supported on methods.`, 'json');
    const invocation = parseInvocation(await readJson(req));
    requireIdentity(route, 'json');
    let result;
    try {
      result = await hub.invokeMethod(route.deviceId!, route.moduleId, invocation);
    } catch (err) {
      throw fromHubError(err, 'json');
    }
    send(res, 200, { status: result.status, payload: result.payload === undefined ? null : result.payload });
  }

  /** Reads `authentication` of a registry PUT body into the keys/thumbprints the core takes. */
  function authFromBody(body: Record<string, unknown>): { primaryKey?: string; secondaryKey?: string; x509Thumbprints?: string[] } {
    const auth = body.authentication;
    if (auth === undefined || auth === null) return {};
    if (!isObject(auth)) throw new ApiError('ArgumentInvalid', 'authentication must be a JSON object.');
    const type = auth.type ?? 'sas';
    const result: { primaryKey?: string; secondaryKey?: string; x509Thumbprints?: string[] } = {};
    if (type === 'sas') {
      const sym = auth.symmetricKey;
      if (sym !== undefined && sym !== null) {
        if (!isObject(sym)) throw new ApiError('ArgumentInvalid', 'authentication.symmetricKey must be a JSON object.');
        for (const field of ['primaryKey', 'secondaryKey'] as const) {
          const key = sym[field];
          if (key === undefined || key === null || key === '') continue;
          const bytes = typeof key === 'string' && /^[A-Za-z0-9+/]+={0,2}$/.test(key) && key.length % 4 === 0 ? Buffer.from(key, 'base64').length : 0;
          // IoT Hub accepts symmetric keys of 16 to 64 bytes.
          if (bytes < 16 || bytes > 64) throw new ApiError('ArgumentInvalid', `authentication.symmetricKey.${field} must be base64 of 16 to 64 bytes.`);
          result[field] = key as string;
        }
      }
      return result;
    }
    if (type === 'selfSigned') {
      const tp = auth.x509Thumbprint;
      const prints = isObject(tp) ? [tp.primaryThumbprint, tp.secondaryThumbprint].filter((t): t is string => typeof t === 'string' && t !== '') : [];
      if (prints.length === 0 || prints.some((t) => !/^(?:[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$/.test(t))) {
        throw new ApiError('ArgumentInvalid', 'authentication.x509Thumbprint needs SHA-1 or SHA-256 hex thumbprints.');
      }
      result.x509Thumbprints = prints;
      return result;
    }
    throw new ApiError('ArgumentInvalid', `authentication.type ${String(type)} is not supported by the local hub.`);
  }

  function checkBodyIds(body: Record<string, unknown>, route: Route): void {
    if (body.deviceId !== undefined && body.deviceId !== route.deviceId) throw new ApiError('ArgumentInvalid', 'deviceId in the body does not match the path.');
    if (route.moduleId !== undefined && body.moduleId !== undefined && body.moduleId !== route.moduleId) {
      throw new ApiError('ArgumentInvalid', 'moduleId in the body does not match the path.');
    }
    if (!ID_PATTERN.test(route.deviceId!)) throw new ApiError('ArgumentInvalid', `Device id ${route.deviceId} is invalid.`);
    if (route.moduleId !== undefined && !ID_PATTERN.test(route.moduleId)) throw new ApiError('ArgumentInvalid', `Module id ${route.moduleId} is invalid.`);
  }

  /** An update (PUT with If-Match) of an existing identity: the core cannot change keys, so only a no-op passes. */
  function checkUnchanged(identity: { primaryKey: string; secondaryKey: string; x509Thumbprints: string[] }, auth: ReturnType<typeof authFromBody>): void {
    const changed = (auth.primaryKey !== undefined && auth.primaryKey !== identity.primaryKey)
      || (auth.secondaryKey !== undefined && auth.secondaryKey !== identity.secondaryKey)
      || (auth.x509Thumbprints !== undefined && auth.x509Thumbprints.join() !== identity.x509Thumbprints.join());
    if (changed) throw new ApiError('NotImplemented', 'The local hub cannot change the keys of an existing identity.');
  }

  async function handleDevice(req: http.IncomingMessage, res: http.ServerResponse, route: Route): Promise<void> {
    const existing = findDevice(route.deviceId!);
    if (req.method === 'GET') {
      if (!existing) throw new ApiError('DeviceNotFound', `Device ${route.deviceId} not registered.`);
      send(res, 200, deviceJson(existing));
      return;
    }
    if (req.method === 'PUT') {
      const body = await readJson(req);
      if (!isObject(body)) throw new ApiError('ArgumentInvalid', 'The device must be a JSON object.');
      checkBodyIds(body, route);
      const auth = authFromBody(body);
      if (existing) {
        if (req.headers['if-match'] === undefined) throw new ApiError('DeviceAlreadyExists', `A device with ID ${route.deviceId} is already registered.`);
        checkIfMatch(req, deviceJson(existing).etag as string);
        checkUnchanged(existing, auth);
        send(res, 200, deviceJson(existing));
        return;
      }
      let created: DeviceIdentity;
      try {
        created = hub.addDevice(route.deviceId!, auth);
      } catch (err) {
        throw fromHubError(err, 'legacy');
      }
      send(res, 200, deviceJson(created));
      return;
    }
    if (req.method === 'DELETE') {
      if (!existing) throw new ApiError('DeviceNotFound', `Device ${route.deviceId} not registered.`);
      // removeDevice is optional in LocalHubApi (test fakes may lack it).
      if (!hub.removeDevice) throw new ApiError('NotImplemented', 'This hub cannot delete devices.');
      checkIfMatch(req, deviceJson(existing).etag as string);
      try {
        hub.removeDevice(route.deviceId!);
      } catch (err) {
        throw fromHubError(err, 'legacy');
      }
      send(res, 204, undefined);
      return;
    }
    throw new ApiError('MethodNotAllowed', `${req.method} is not supported on devices.`);
  }

  async function handleModule(req: http.IncomingMessage, res: http.ServerResponse, route: Route): Promise<void> {
    const existing = hub.getModule(route.deviceId!, route.moduleId!);
    const missing = (): ApiError => findDevice(route.deviceId!)
      ? new ApiError('ModuleNotFound', `Module ${route.moduleId} not registered on device ${route.deviceId}.`)
      : new ApiError('DeviceNotFound', `Device ${route.deviceId} not registered.`);
    if (req.method === 'GET') {
      if (!existing) throw missing();
      send(res, 200, moduleJson(existing));
      return;
    }
    if (req.method === 'PUT') {
      const body = await readJson(req);
      if (!isObject(body)) throw new ApiError('ArgumentInvalid', 'The module must be a JSON object.');
      checkBodyIds(body, route);
      const auth = authFromBody(body);
      if (existing) {
        if (req.headers['if-match'] === undefined) {
          throw new ApiError('ModuleAlreadyExistsOnDevice', `A module with ID ${route.moduleId} is already registered on device ${route.deviceId}.`);
        }
        checkIfMatch(req, moduleJson(existing).etag as string);
        checkUnchanged(existing, auth);
        send(res, 200, moduleJson(existing));
        return;
      }
      // Like IoT Hub, a module can only be added to an existing device.
      if (!findDevice(route.deviceId!)) throw new ApiError('DeviceNotFound', `Device ${route.deviceId} not registered.`);
      let created: ModuleIdentity;
      try {
        created = hub.addModule(route.deviceId!, route.moduleId!, auth);
      } catch (err) {
        throw fromHubError(err, 'legacy');
      }
      send(res, 200, moduleJson(created));
      return;
    }
    if (req.method === 'DELETE') {
      if (!existing) throw missing();
      checkIfMatch(req, moduleJson(existing).etag as string);
      try {
        hub.removeModule(route.deviceId!, route.moduleId!);
      } catch (err) {
        throw fromHubError(err, 'legacy');
      }
      send(res, 204, undefined);
      return;
    }
    throw new ApiError('MethodNotAllowed', `${req.method} is not supported on modules.`);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let style: 'legacy' | 'json' = 'legacy';
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'https://local-hub');
      } catch {
        throw new ApiError('ArgumentInvalid', 'The request URL is malformed.');
      }
      const route = matchRoute(url.pathname);
      if (!route) throw new ApiError('NotFound', `No resource at ${url.pathname}.`);
      if (route.kind === 'methods') style = 'json';
      authenticate(req, route, style);
      switch (route.kind) {
        case 'twin':
          return await handleTwin(req, res, route);
        case 'methods':
          return await handleMethods(req, res, route);
        case 'devices':
          if (req.method !== 'GET') throw new ApiError('MethodNotAllowed', `${req.method} is not supported on /devices.`);
          return send(res, 200, devices().map(deviceJson));
        case 'device':
          return await handleDevice(req, res, route);
        case 'modules':
          if (req.method !== 'GET') throw new ApiError('MethodNotAllowed', `${req.method} is not supported on modules.`);
          if (!findDevice(route.deviceId!)) throw new ApiError('DeviceNotFound', `Device ${route.deviceId} not registered.`);
          return send(res, 200, hub.listModules().filter((mod) => mod.deviceId === route.deviceId).map(moduleJson));
        case 'module':
          return await handleModule(req, res, route);
      }
    } catch (err) {
      // The rest of a rejected body is not worth reading: close the connection after answering.
      if (!req.readableEnded && !res.headersSent) res.setHeader('connection', 'close');
      sendError(res, fromHubError(err, style));
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
