// Converts flows written for the archived node-red-contrib-azure-iot-edge-module pack (types edgeclient, moduleinput,
// moduleoutput, moduletwin, modulemethod) to this pack's nodes. Pure: used by the editor (through an admin endpoint)
// and by the `azure-iot-convert-edge-flows` CLI; it never imports Node-RED.
import { newClientConfig } from './clientConfigFields';

/** A node of an exported Node-RED flow (flows.json entry). */
export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  x?: number;
  y?: number;
  wires?: string[][];
  name?: string;
  [field: string]: unknown;
}

/** One archived-pack node and the nodes it became. */
export interface ConvertedNode {
  id: string;
  /** The archived pack's type (`moduleinput`, …). */
  from: string;
  /** The ids of the nodes that replace it (the first keeps the original id). */
  into: string[];
}

/** Something the conversion could not carry over, for the user to look at. */
export interface UnmappedItem {
  id: string;
  type: string;
  /** The field that has no equivalent, when the node itself was converted. */
  field?: string;
  /** English explanation (the CLI prints it; the editor shows the catalog text chosen by `code`). */
  reason: string;
  code: 'unknown-field' | 'missing-client' | 'merged-client';
}

export interface MigrationResult {
  /** The whole flow after conversion: every other node kept as it was (wires into converted nodes redirected). */
  nodes: FlowNode[];
  converted: ConvertedNode[];
  unmapped: UnmappedItem[];
}

/** The archived pack's config node types (`moduleclient` is the name its own example flow used). */
export const LEGACY_CONFIG_TYPES: readonly string[] = ['edgeclient', 'moduleclient'];
/** Every type the conversion handles. */
export const LEGACY_TYPES: readonly string[] = [
  ...LEGACY_CONFIG_TYPES,
  'moduleinput',
  'moduleoutput',
  'moduletwin',
  'modulemethod',
];

/** The archived pack's defaults when a field was left empty (its runtime used these names). */
const LEGACY_DEFAULT_INPUT = 'input1';
const LEGACY_DEFAULT_OUTPUT = 'output';

/** Fields every Node-RED flow node may carry and that are kept as they are. */
const LAYOUT_FIELDS = ['id', 'type', 'z', 'x', 'y', 'wires', 'g', 'd', 'name', 'info', 'l'];
/** The fields each archived type had besides the layout ones. */
const KNOWN_FIELDS: Record<string, string[]> = {
  edgeclient: ['module'],
  moduleclient: ['module'],
  moduleinput: ['client', 'input'],
  moduleoutput: ['client', 'output'],
  moduletwin: ['client'],
  modulemethod: ['client', 'method'],
};

/** Vertical spacing of the helper nodes a conversion adds below the converted node. */
const ROW = 45;
/** Horizontal offset of the method-response node from the answer node. */
const COLUMN = 200;

/**
 * The global-context key under which a converted method remembers its last request id (the archived pack answered per
 * method).
 */
export function methodContextKey(id: string): string {
  return `edgeModuleMethod_${id.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

function isLegacy(node: FlowNode): boolean {
  return LEGACY_TYPES.includes(node.type);
}

function text(value: unknown, fallback: string): string {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : fallback;
}

/** The layout fields of a node, to carry over to its replacement. */
function layout(node: FlowNode): Partial<FlowNode> {
  const kept: Partial<FlowNode> = {};
  for (const field of ['z', 'x', 'y', 'g', 'd', 'info', 'l']) if (node[field] !== undefined) kept[field] = node[field];
  return kept;
}

/** An *IoT Edge environment* config node (what the archived pack's client always was: `fromEnvironment`). */
function edgeConfig(id: string, name: string): FlowNode {
  return { ...newClientConfig(), id, name, connectionType: 'edge' };
}

/**
 * Converts the archived pack's nodes of a flow (or of a whole flows.json) to this pack's nodes. Positions, names,
 * groups and wiring are kept; a node's id is kept by its first replacement so wires from other nodes still reach it.
 *
 * - `edgeclient` / `moduleclient` → an `iothub-module-client` of kind *IoT Edge environment* (same id). A module has
 *   one identity, and two connections with one identity close each other in turn (IoT Hub's 400027): every
 *   converted node uses one such client — the flow's own, when it already has one of this pack, else the first
 *   archived one (the others are removed, listed as `merged-client`);
 * - `moduleinput` (`input`) → `iothub-module-input` (`inputName`);
 * - `moduleoutput` (`output`) → `iothub-module-output` (`outputName`);
 * - `moduletwin` → `iothub-module-twin`, behind a `json` node when something is wired into it (the archived twin
 *   parsed JSON text);
 * - `modulemethod` (`method`) → `iothub-module-method-request` → a change node that remembers the request id and
 *   sets `msg.method` / `msg.topic` as before → the user's logic → a change node that moves `msg.status` to
 *   `msg.statusCode` (and brings back the request id when the user's logic built a new msg) →
 *   `iothub-module-method-response`.
 *
 * @param nodes an exported flow (not modified).
 * @returns the converted flow, what was converted, and what could not be carried over.
 */
export function convertEdgeModuleFlow(nodes: readonly FlowNode[]): MigrationResult {
  const taken = new Set(nodes.map((n) => n.id));
  const fresh = (base: string): string => {
    let id = base;
    for (let i = 2; taken.has(id); i += 1) id = `${base}-${i}`;
    taken.add(id);
    return id;
  };
  const converted: ConvertedNode[] = [];
  const unmapped: UnmappedItem[] = [];
  /** For a converted flow node: the node that wires into it must now reach instead (the answer node of a method). */
  const inputOf = new Map<string, string>();
  const out: FlowNode[] = [];
  const configIds = new Set(nodes.filter((n) => LEGACY_CONFIG_TYPES.includes(n.type)).map((n) => n.id));
  const ownEdgeClient = nodes.find((n) => n.type === 'iothub-module-client' && n.connectionType === 'edge')?.id;
  /** A client to add when neither the flow nor the archived nodes bring one (their client was not exported). */
  let addedClient: string | undefined;

  for (const node of nodes) {
    if (!isLegacy(node)) continue;
    for (const field of Object.keys(node)) {
      if (LAYOUT_FIELDS.includes(field) || KNOWN_FIELDS[node.type]!.includes(field)) continue;
      unmapped.push({
        id: node.id,
        type: node.type,
        field,
        code: 'unknown-field',
        reason: `${node.type} field "${field}" has no equivalent and was dropped`,
      });
    }
    if (LEGACY_CONFIG_TYPES.includes(node.type)) continue;
    const client = typeof node.client === 'string' ? node.client : '';
    if (!configIds.has(client)) {
      // A flow exported without its config node: the nodes get an IoT Edge environment client all the same.
      unmapped.push({
        id: node.id,
        type: node.type,
        field: 'client',
        code: 'missing-client',
        reason: `${node.type}'s client is not in the flow; it uses an IoT Edge environment client`,
      });
      if (addedClient === undefined && configIds.size === 0 && ownEdgeClient === undefined)
        addedClient = client === '' ? fresh('edge-module-client') : client;
    }
  }
  /** The one IoT Edge environment client every converted node uses. */
  const edgeClient = ownEdgeClient ?? [...configIds][0] ?? addedClient;
  for (const node of nodes) {
    if (!isLegacy(node)) {
      out.push(node);
      continue;
    }
    const name = typeof node.name === 'string' ? node.name : '';
    const wires = Array.isArray(node.wires) ? node.wires.map((port) => (Array.isArray(port) ? [...port] : [])) : [];
    const x = typeof node.x === 'number' ? node.x : 0;
    const y = typeof node.y === 'number' ? node.y : 0;
    switch (node.type) {
      case 'edgeclient':
      case 'moduleclient': {
        if (node.id === edgeClient) {
          out.push({ ...edgeConfig(node.id, name), ...(node.z ? { z: node.z } : {}) });
          converted.push({ id: node.id, from: node.type, into: [node.id] });
          break;
        }
        converted.push({ id: node.id, from: node.type, into: [] });
        unmapped.push({
          id: node.id,
          type: node.type,
          code: 'merged-client',
          reason: `a module has one identity: its nodes now use the IoT Edge environment client ${edgeClient}`,
        });
        break;
      }
      case 'moduleinput': {
        out.push({
          id: node.id,
          type: 'iothub-module-input',
          ...layout(node),
          name,
          client: edgeClient,
          inputName: text(node.input, LEGACY_DEFAULT_INPUT),
          raw: false,
          wires: [wires[0] ?? []],
        });
        converted.push({ id: node.id, from: node.type, into: [node.id] });
        break;
      }
      case 'moduleoutput': {
        out.push({
          id: node.id,
          type: 'iothub-module-output',
          ...layout(node),
          name,
          client: edgeClient,
          outputName: text(node.output, LEGACY_DEFAULT_OUTPUT),
          passThrough: false,
          outputs: 0,
          wires: [],
        });
        converted.push({ id: node.id, from: node.type, into: [node.id] });
        break;
      }
      case 'moduletwin': {
        const twin: FlowNode = {
          id: node.id,
          type: 'iothub-module-twin',
          ...layout(node),
          name,
          client: edgeClient,
          wires: [wires[0] ?? []],
        };
        const wiredInto = nodes.some((n) =>
          (n.wires ?? []).some((port) => Array.isArray(port) && port.includes(node.id)),
        );
        if (wiredInto) {
          // The archived twin parsed a JSON-text payload before reporting it; this pack's twin takes an object.
          const parse = fresh(`${node.id}-json`);
          out.push({
            id: parse,
            type: 'json',
            ...layout(node),
            x,
            y: y + ROW,
            name: '',
            property: 'payload',
            action: 'obj',
            pretty: false,
            wires: [[node.id]],
          });
          inputOf.set(node.id, parse);
          out.push(twin);
          converted.push({ id: node.id, from: node.type, into: [node.id, parse] });
        } else {
          out.push(twin);
          converted.push({ id: node.id, from: node.type, into: [node.id] });
        }
        break;
      }
      case 'modulemethod': {
        const key = methodContextKey(node.id);
        const remember = fresh(`${node.id}-request`);
        const answer = fresh(`${node.id}-answer`);
        const response = fresh(`${node.id}-response`);
        const methodName = text(node.method, '');
        out.push({
          id: node.id,
          type: 'iothub-module-method-request',
          ...layout(node),
          name,
          client: edgeClient,
          methodName,
          timeout: '25',
          timeoutStatus: '504',
          wires: [[remember]],
        });
        out.push({
          id: remember,
          type: 'change',
          ...layout(node),
          x,
          y: y + ROW,
          name: 'as modulemethod sent it',
          wires: [wires[0] ?? []],
          rules: [
            { t: 'set', p: key, pt: 'global', to: 'requestId', tot: 'msg' },
            { t: 'set', p: 'method', pt: 'msg', to: 'methodName', tot: 'msg' },
            { t: 'set', p: 'topic', pt: 'msg', to: 'method', tot: 'str' },
          ],
          action: '',
          property: '',
          from: '',
          to: '',
          reg: false,
        });
        out.push({
          id: answer,
          type: 'change',
          ...layout(node),
          x,
          y: y + 2 * ROW,
          name: 'status → statusCode',
          wires: [[response]],
          rules: [
            { t: 'move', p: 'status', pt: 'msg', to: 'statusCode', tot: 'msg' },
            // The archived pack answered the method's last request whatever msg came back; keep that when the
            // user's logic built a new msg without msg.requestId.
            {
              t: 'set',
              p: 'requestId',
              pt: 'msg',
              to: `$exists(requestId) ? requestId : $globalContext("${key}")`,
              tot: 'jsonata',
            },
          ],
          action: '',
          property: '',
          from: '',
          to: '',
          reg: false,
        });
        out.push({
          id: response,
          type: 'iothub-module-method-response',
          ...layout(node),
          x: x + COLUMN,
          y: y + 2 * ROW,
          name: '',
          statusCode: '200',
          wires: [],
        });
        inputOf.set(node.id, answer);
        converted.push({ id: node.id, from: node.type, into: [node.id, remember, answer, response] });
        break;
      }
    }
  }

  if (addedClient !== undefined) {
    out.push(edgeConfig(addedClient, ''));
    converted.push({ id: addedClient, from: 'edgeclient', into: [addedClient] });
  }
  // Wires into a converted node go where that node now takes its input (the json or answer node).
  const rewired = out.map((n) => {
    if (!Array.isArray(n.wires) || inputOf.size === 0) return n;
    let changed = false;
    const wires = n.wires.map((port) =>
      Array.isArray(port)
        ? port.map((target) => {
            const to = inputOf.get(target);
            if (to === undefined || to === n.id) return target;
            changed = true;
            return to;
          })
        : port,
    );
    return changed ? { ...n, wires } : n;
  });
  return { nodes: rewired, converted, unmapped };
}
