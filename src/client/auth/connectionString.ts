// Connection string parsing and validation exactly as the Python SDK (azure-iot-device `connection_string.py`).
import { ValueError } from '../errors';

/** The keys a connection string may carry (case-sensitive). */
export const CONNECTION_STRING_KEYS = [
  'HostName',
  'SharedAccessKeyName',
  'SharedAccessKey',
  'SharedAccessSignature',
  'DeviceId',
  'ModuleId',
  'GatewayHostName',
  'x509',
] as const;

export type ConnectionStringKey = (typeof CONNECTION_STRING_KEYS)[number];

/** A parsed connection string: key → value. */
export type ConnectionString = Partial<Record<ConnectionStringKey, string>>;

/**
 * Parses `Key=Value;Key=Value` (each segment split on its first `=`) and validates the combination like the Python SDK.
 * @throws TypeError when `text` is not a string.
 * @throws ValueError for a segment without `=`, an unknown or duplicate key, mixed authentication (SharedAccessKey
 * and x509) or an incomplete string.
 */
export function parseConnectionString(text: unknown): ConnectionString {
  if (typeof text !== 'string') throw new TypeError('Connection string must be of type str');
  const result: ConnectionString = {};
  for (const segment of text.split(';')) {
    const eq = segment.indexOf('=');
    if (eq < 0) throw new ValueError('Connection string cannot be parsed: unable to parse segment');
    const key = segment.slice(0, eq);
    const value = segment.slice(eq + 1);
    if (!(CONNECTION_STRING_KEYS as readonly string[]).includes(key)) {
      throw new ValueError(`Invalid Connection String - Invalid Key: ${key}`);
    }
    if (Object.prototype.hasOwnProperty.call(result, key)) {
      throw new ValueError(`Invalid Connection String - Duplicate Key: ${key}`);
    }
    result[key as ConnectionStringKey] = value;
  }
  validate(result);
  return result;
}

function validate(cs: ConnectionString): void {
  // Values are tested for truthiness, as the Python SDK does: an empty value counts as absent.
  if (cs.SharedAccessKey && cs.x509) {
    throw new ValueError('Invalid Connection String - Mixed authentication scheme');
  }
  const deviceForm = !!cs.HostName && !!cs.DeviceId && (!!cs.SharedAccessKey || !!cs.x509);
  const serviceForm = !!cs.HostName && !!cs.SharedAccessKey && !!cs.SharedAccessKeyName;
  if (!deviceForm && !serviceForm) throw new ValueError('Invalid Connection String - Incomplete');
}
