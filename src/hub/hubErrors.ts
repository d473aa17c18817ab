// IoT Hub's errors as the local hub raises and answers them: the one table (name → HTTP status and numeric code),
// the error class every part of the hub throws, and IoT Hub's 404 for an unknown identity.
import type { HubErrorShape } from './types';

/**
 * The IoT Hub errors the local hub uses: the `ErrorCode:` name IoT Hub answers with (in the error body and the
 * `iothub-errorcode` header) → [HTTP status, numeric IoT Hub error code].
 */
export const HUB_ERRORS = {
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

/** The name of an IoT Hub error in {@link HUB_ERRORS}. */
export type HubErrorName = keyof typeof HUB_ERRORS;

const NAME_BY_CODE = new Map<number, HubErrorName>(
  (Object.keys(HUB_ERRORS) as HubErrorName[]).map((name) => [HUB_ERRORS[name][1], name]),
);

/** An IoT Hub failure: its `ErrorCode:` name, HTTP status and numeric IoT Hub error code (from {@link HUB_ERRORS}). */
export class HubError extends Error implements HubErrorShape {
  override name = 'HubError';
  readonly httpStatus: number;
  readonly errorCode: number;

  constructor(
    readonly errorName: HubErrorName,
    message: string,
  ) {
    super(message);
    [this.httpStatus, this.errorCode] = HUB_ERRORS[errorName];
  }

  /**
   * Any failure as a HubError: a HubError as it is; another {@link HubErrorShape} (from a `LocalHubApi` made
   * elsewhere) by its numeric code; anything else, or an unknown code, as a 500 ServerError with its message.
   * @throws never
   */
  static from(err: unknown): HubError {
    if (err instanceof HubError) return err;
    const message = err instanceof Error ? err.message : String(err);
    const code = (err as Partial<HubErrorShape> | null)?.errorCode;
    return new HubError((typeof code === 'number' && NAME_BY_CODE.get(code)) || 'ServerError', message);
  }
}

/** IoT Hub's 404 for an unknown identity: 404001 for a device, 404010 for a module. */
export function identityNotFound(deviceId: string, moduleId?: string): HubError {
  return moduleId === undefined
    ? new HubError('DeviceNotFound', `device ${deviceId} not found`)
    : new HubError('ModuleNotFound', `module ${deviceId}/${moduleId} not found`);
}
