// edgeHub routes for the local hub: parse `FROM <source> [WHERE <condition>] INTO <endpoint>` and match messages.

/** Where a route sends matching messages. */
export type RouteEndpoint = { kind: 'upstream' } | { kind: 'input'; moduleId: string; inputName: string };

/** A parsed route. */
export interface Route {
  name: string;
  text: string;
  /** Source path segments; a final `*` matches any remainder, a `*` elsewhere one segment. */
  source: string[];
  condition?: Condition;
  endpoint: RouteEndpoint;
}

/** What routing looks at in a message. */
export interface RoutableMessage {
  deviceId: string;
  moduleId?: string;
  outputName?: string;
  properties: Record<string, string>;
  systemProperties: Record<string, string>;
}

/** A route that cannot be parsed. */
export class RouteSyntaxError extends Error {
  override name = 'RouteSyntaxError';
}

type Operand = { kind: 'literal'; value: string | number | boolean } | { kind: 'property'; name: string };

/** A parsed WHERE condition. */
export type Condition =
  | { kind: 'and' | 'or'; left: Condition; right: Condition }
  | { kind: 'not'; operand: Condition }
  | { kind: 'defined'; operand: Operand }
  | { kind: 'compare'; op: '=' | '!=' | '<' | '>' | '<=' | '>='; left: Operand; right: Operand }
  | { kind: 'literal'; value: boolean };

/** IoT Hub / edgeHub query names of system properties → wire names of the property bag. */
const SYSTEM_PROPERTY_NAMES: Record<string, string> = {
  $connectiondeviceid: '$.cdid',
  $connectionmoduleid: '$.cmid',
  $contenttype: '$.ct',
  $contentencoding: '$.ce',
  $messageid: '$.mid',
  $correlationid: '$.cid',
  $userid: '$.uid',
  $outputname: '$.on',
  $to: '$.to',
  $expirytimeutc: '$.exp',
};

/**
 * Parses one route.
 * @throws RouteSyntaxError when the text is not `FROM <source> [WHERE <condition>] INTO <endpoint>`.
 */
export function parseRoute(name: string, text: string): Route {
  const m = /^\s*FROM\s+(\S+)\s+(?:WHERE\s+([\s\S]+?)\s+)?INTO\s+([\s\S]+?)\s*$/i.exec(text);
  if (!m) throw new RouteSyntaxError(`route ${name}: expected FROM <source> [WHERE <condition>] INTO <endpoint>`);
  const sourceText = m[1]!;
  if (!sourceText.startsWith('/')) throw new RouteSyntaxError(`route ${name}: the source must start with /`);
  const source = sourceText.split('/').slice(1);
  if (source.some((s) => s.length === 0))
    throw new RouteSyntaxError(`route ${name}: empty segment in source ${sourceText}`);
  if (source[0] !== '*' && source[0] !== 'messages')
    throw new RouteSyntaxError(`route ${name}: unsupported source ${sourceText}`);
  const route: Route = { name, text, source, endpoint: parseEndpoint(name, m[3]!) };
  if (m[2] !== undefined) route.condition = parseCondition(m[2]);
  return route;
}

function parseEndpoint(name: string, text: string): RouteEndpoint {
  if (text === '$upstream') return { kind: 'upstream' };
  const m = /^BrokeredEndpoint\s*\(\s*(["'])\/modules\/([^/"']+)\/inputs\/([^/"']+)\1\s*\)$/i.exec(text);
  if (!m) throw new RouteSyntaxError(`route ${name}: unsupported endpoint ${text}`);
  return { kind: 'input', moduleId: m[2]!, inputName: m[3]! };
}

/**
 * The source path edgeHub gives a message: `/messages/modules/{m}/outputs/{o}`, `/messages/modules/{m}` or
 * `/messages/events`.
 */
export function messagePath(msg: RoutableMessage): string[] {
  if (msg.moduleId === undefined) return ['messages', 'events'];
  return msg.outputName !== undefined && msg.outputName !== ''
    ? ['messages', 'modules', msg.moduleId, 'outputs', msg.outputName]
    : ['messages', 'modules', msg.moduleId];
}

function sourceMatches(pattern: string[], path: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p === '*' && i === pattern.length - 1) return path.length >= i;
    if (i >= path.length) return false;
    if (p !== '*' && p !== path[i]) return false;
  }
  return pattern.length === path.length;
}

/** Whether `route` takes `msg` (source and condition). */
export function routeMatches(route: Route, msg: RoutableMessage): boolean {
  if (!sourceMatches(route.source, messagePath(msg))) return false;
  return route.condition === undefined || evaluate(route.condition, msg) === true;
}

/** The endpoints for a message under a set of routes (deduplicated); no routes = everything to `$upstream`. */
export function resolveEndpoints(routes: Route[], msg: RoutableMessage): RouteEndpoint[] {
  if (routes.length === 0) return [{ kind: 'upstream' }];
  const seen = new Set<string>();
  const out: RouteEndpoint[] = [];
  for (const route of routes) {
    if (!routeMatches(route, msg)) continue;
    const key =
      route.endpoint.kind === 'upstream' ? '$upstream' : `${route.endpoint.moduleId}/${route.endpoint.inputName}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(route.endpoint);
  }
  return out;
}

/**
 * Parses a set of routes (name → text).
 * @throws RouteSyntaxError naming the first bad route.
 */
export function parseRoutes(routes: Record<string, string>): Route[] {
  return Object.entries(routes).map(([name, text]) => parseRoute(name, text));
}

// ---- WHERE conditions -------------------------------------------------------------------------------------------

type Token =
  | { t: 'str'; v: string }
  | { t: 'num'; v: number }
  | { t: 'id'; v: string }
  | { t: 'op'; v: string }
  | { t: '('; v: '(' }
  | { t: ')'; v: ')' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push(c === '(' ? { t: '(', v: '(' } : { t: ')', v: ')' });
      i++;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      let v = '';
      for (;;) {
        if (j >= text.length) throw new RouteSyntaxError(`unterminated string in condition: ${text}`);
        if (text[j] === c) {
          // A doubled quote inside a string is a literal quote (SQL style).
          if (text[j + 1] === c) {
            v += c;
            j += 2;
            continue;
          }
          break;
        }
        v += text[j];
        j++;
      }
      tokens.push({ t: 'str', v });
      i = j + 1;
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9.]/.test(text[i + 1] ?? ''))) {
      const m = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(i))!;
      tokens.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[<>=!]/.test(c)) {
      const m = /^(<=|>=|<>|!=|=|<|>)/.exec(text.slice(i));
      if (!m) throw new RouteSyntaxError(`unexpected ${c} in condition: ${text}`);
      tokens.push({ t: 'op', v: m[0] === '<>' ? '!=' : m[0] });
      i += m[0].length;
    } else if (c === '[') {
      // [property name] quotes a name with characters an identifier may not hold.
      const end = text.indexOf(']', i);
      if (end < 0) throw new RouteSyntaxError(`unterminated [ in condition: ${text}`);
      tokens.push({ t: 'id', v: text.slice(i + 1, end) });
      i = end + 1;
    } else if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$\-.]*/.exec(text.slice(i))!;
      tokens.push({ t: 'id', v: m[0] });
      i += m[0].length;
    } else {
      throw new RouteSyntaxError(`unexpected ${c} in condition: ${text}`);
    }
  }
  return tokens;
}

/**
 * Parses a WHERE condition: comparisons (`=`, `!=`, `<>`, `<`, `>`, `<=`, `>=`) between properties and string,
 * number or boolean literals, `AND`, `OR`, `NOT`, parentheses and `IS_DEFINED(prop)`.
 * @throws RouteSyntaxError on a syntax error.
 */
export function parseCondition(text: string): Condition {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const isWord = (tok: Token | undefined, word: string): boolean => tok?.t === 'id' && tok.v.toUpperCase() === word;
  const fail = (what: string): never => {
    throw new RouteSyntaxError(`${what} in condition: ${text}`);
  };

  const operand = (): Operand => {
    const tok = tokens[pos++];
    if (!tok) return fail('unexpected end');
    if (tok.t === 'str' || tok.t === 'num') return { kind: 'literal', value: tok.v };
    if (tok.t === 'id') {
      const upper = tok.v.toUpperCase();
      if (upper === 'TRUE' || upper === 'FALSE') return { kind: 'literal', value: upper === 'TRUE' };
      return { kind: 'property', name: tok.v };
    }
    return fail(`unexpected ${tok.v}`);
  };

  const primary = (): Condition => {
    const tok = peek();
    if (!tok) return fail('unexpected end');
    if (tok.t === '(') {
      pos++;
      const inner = orExpr();
      if (peek()?.t !== ')') fail('missing )');
      pos++;
      return inner;
    }
    if (isWord(tok, 'IS_DEFINED')) {
      pos++;
      if (peek()?.t !== '(') fail('IS_DEFINED needs (');
      pos++;
      const arg = operand();
      if (arg.kind !== 'property') fail('IS_DEFINED needs a property');
      if (peek()?.t !== ')') fail('missing ) after IS_DEFINED');
      pos++;
      return { kind: 'defined', operand: arg };
    }
    const left = operand();
    const op = peek();
    if (op?.t !== 'op') {
      if (left.kind === 'literal' && typeof left.value === 'boolean') return { kind: 'literal', value: left.value };
      return fail('expected a comparison');
    }
    pos++;
    const right = operand();
    return { kind: 'compare', op: op.v as '=' | '!=' | '<' | '>' | '<=' | '>=', left, right };
  };

  const notExpr = (): Condition => {
    if (isWord(peek(), 'NOT')) {
      pos++;
      return { kind: 'not', operand: notExpr() };
    }
    return primary();
  };

  const andExpr = (): Condition => {
    let left = notExpr();
    while (isWord(peek(), 'AND')) {
      pos++;
      left = { kind: 'and', left, right: notExpr() };
    }
    return left;
  };

  const orExpr = (): Condition => {
    let left = andExpr();
    while (isWord(peek(), 'OR')) {
      pos++;
      left = { kind: 'or', left, right: andExpr() };
    }
    return left;
  };

  if (tokens.length === 0) fail('empty condition');
  const result = orExpr();
  if (pos !== tokens.length) fail(`unexpected ${tokens[pos]!.v}`);
  return result;
}

function lookup(name: string, msg: RoutableMessage): string | undefined {
  if (name.startsWith('$')) {
    const wire = SYSTEM_PROPERTY_NAMES[name.toLowerCase()];
    if (wire === undefined) return undefined;
    if (wire === '$.cdid') return msg.deviceId;
    if (wire === '$.cmid') return msg.moduleId;
    if (wire === '$.on') return msg.outputName;
    return msg.systemProperties[wire];
  }
  return Object.prototype.hasOwnProperty.call(msg.properties, name) ? msg.properties[name] : undefined;
}

function valueOf(op: Operand, msg: RoutableMessage): string | number | boolean | undefined {
  return op.kind === 'literal' ? op.value : lookup(op.name, msg);
}

function compare(op: string, a: string | number | boolean, b: string | number | boolean): boolean | undefined {
  let x: string | number = typeof a === 'boolean' ? String(a) : a;
  let y: string | number = typeof b === 'boolean' ? String(b) : b;
  // Application properties are strings; compare them with number literals numerically when they hold a number.
  if (typeof x === 'number' && typeof y === 'string') {
    if (y.trim() === '' || !Number.isFinite(Number(y))) return undefined;
    y = Number(y);
  } else if (typeof x === 'string' && typeof y === 'number') {
    if (x.trim() === '' || !Number.isFinite(Number(x))) return undefined;
    x = Number(x);
  }
  switch (op) {
    case '=':
      return x === y;
    case '!=':
      return x !== y;
    case '<':
      return x < y;
    case '>':
      return x > y;
    case '<=':
      return x <= y;
    default:
      return x >= y;
  }
}

/**
 * Evaluates a condition with IoT Hub's three-valued logic: a comparison with an undefined property is undefined,
 * and only a `true` result routes the message.
 */
export function evaluate(cond: Condition, msg: RoutableMessage): boolean | undefined {
  switch (cond.kind) {
    case 'literal':
      return cond.value;
    case 'defined':
      return valueOf(cond.operand, msg) !== undefined;
    case 'compare': {
      const a = valueOf(cond.left, msg);
      const b = valueOf(cond.right, msg);
      if (a === undefined || b === undefined) return undefined;
      return compare(cond.op, a, b);
    }
    case 'not': {
      const v = evaluate(cond.operand, msg);
      return v === undefined ? undefined : !v;
    }
    case 'and': {
      const l = evaluate(cond.left, msg);
      const r = evaluate(cond.right, msg);
      if (l === false || r === false) return false;
      return l === undefined || r === undefined ? undefined : true;
    }
    case 'or': {
      const l = evaluate(cond.left, msg);
      const r = evaluate(cond.right, msg);
      if (l === true || r === true) return true;
      return l === undefined || r === undefined ? undefined : false;
    }
  }
}
