// Pure readers of node settings (the editor stores numbers as strings) and of msg fields that override them:
// counts, seconds, target ids, timeouts, status codes, output names and the twin node's action.
import { describeOptionRule, OPTION_RULES, readOptionSetting } from '../../src/index';
import { NodeError } from './errors';
import type { NodeMessage } from './red';

/**
 * A msg value as text for an error detail, at most 200 characters. Never throws: a value a flow made may have no
 * `toString` (`Object.create(null)`) or one that throws, and an error about a bad value must not become another one.
 */
export function valueText(value: unknown): string {
  let text: string;
  try {
    text = String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function blank(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

/**
 * A numeric node setting: `kind` "positive" accepts any number above 0 (seconds), "count" a whole number from 0.
 * A blank or unacceptable value gives `fallback` (the editor validates; the runtime never fails on a setting).
 */
export function numberSetting(value: unknown, fallback: number, kind: 'positive' | 'count'): number {
  if (blank(value)) return fallback;
  const n = Number(value);
  const ok = kind === 'positive' ? Number.isFinite(n) && n > 0 : Number.isInteger(n) && n >= 0;
  return ok ? n : fallback;
}

/**
 * A target id or method name from msg or the node (undefined when blank and optional).
 * @throws NodeError `invalid-target` (detail: the field) when missing but required, or not a string.
 */
export function targetId(value: unknown, field: string, required: boolean): string | undefined {
  if (blank(value)) {
    if (required) throw new NodeError('invalid-target', field);
    return undefined;
  }
  if (typeof value !== 'string') throw new NodeError('invalid-target', field);
  return value;
}

/**
 * A direct method timeout from msg or the node, by its rule in the option table (IoT Hub's limits: connect 0–300 s,
 * response 5–300 s); blank gives the table's default.
 * @throws NodeError `invalid-timeout` (detail: the field and its rule).
 */
export function timeoutSeconds(
  value: unknown,
  name: 'connectTimeoutInSeconds' | 'responseTimeoutInSeconds',
  field: string,
): number {
  const rule = OPTION_RULES[name];
  const n = readOptionSetting(rule, value);
  if (n === null) throw new NodeError('invalid-timeout', `${field} must be ${describeOptionRule(rule)}`);
  return n ?? rule.default;
}

/**
 * A method response status: msg.statusCode, else the node's setting, else 200.
 * @throws NodeError `invalid-status-code` unless an integer 0 to 999.
 */
export function statusCodeOf(fromMsg: unknown, configured: unknown): number {
  const value = fromMsg ?? (blank(configured) ? 200 : configured);
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 999)
    throw new NodeError('invalid-status-code', valueText(value));
  return n;
}

/**
 * The output to send to: msg.outputName, else the node's; '' means upstream.
 * @throws NodeError `invalid-output-name` when msg.outputName is not a string.
 */
export function outputNameOf(fromMsg: unknown, configured: string): string {
  const value = fromMsg ?? configured;
  if (typeof value !== 'string') throw new NodeError('invalid-output-name', 'msg.outputName');
  return value.trim();
}

/**
 * A JSON object: not an array, Buffer, typed array, Date, Map or null. Checked by tag, not prototype, because
 * objects made in a function node come from another realm (their Object.prototype is not ours).
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.prototype.toString.call(value) === '[object Object]';
}

function isEmptyPayload(payload: unknown): boolean {
  return blank(payload) || (Buffer.isBuffer(payload) && payload.length === 0);
}

/**
 * What a twin node's input asks for: msg.action "get" / "report", else an empty payload reads and an object
 * payload reports.
 * @throws NodeError `invalid-action` for another action, `invalid-twin-patch` for a payload that is neither.
 */
export function twinAction(msg: NodeMessage): 'get' | 'report' {
  if (msg.action === 'get') return 'get';
  if (msg.action === 'report') return 'report';
  if (!blank(msg.action)) throw new NodeError('invalid-action', valueText(msg.action));
  if (isEmptyPayload(msg.payload)) return 'get';
  if (isPlainObject(msg.payload)) return 'report';
  throw new NodeError('invalid-twin-patch', 'msg.payload');
}

/**
 * Takes msg.sastoken off the msg (it must not reach Complete, Catch or debug nodes, nor any log) and returns it.
 * @throws NodeError `invalid-sastoken` when it is not a non-empty string.
 */
export function takeSastoken(msg: NodeMessage): string {
  const token = msg.sastoken;
  delete msg.sastoken;
  if (typeof token !== 'string' || token.trim() === '') throw new NodeError('invalid-sastoken', 'msg.sastoken');
  return token.trim();
}
