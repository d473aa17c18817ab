#!/usr/bin/env node
// `azure-iot-convert-edge-flows flows.json [converted.json]`: converts the archived
// node-red-contrib-azure-iot-edge-module pack's nodes of an exported flow to this pack's nodes and lists what it could
// not carry over.
import fs from 'node:fs';
import { convertEdgeModuleFlow, type FlowNode } from './edgeModuleMigration';

const USAGE = `usage: azure-iot-convert-edge-flows <flows.json> [<converted.json>]

Converts the nodes of the archived node-red-contrib-azure-iot-edge-module pack (edgeclient, moduleinput,
moduleoutput, moduletwin, modulemethod) in an exported flow to this pack's nodes, keeping positions, names
and wiring. Writes the converted flow to <converted.json>, or to stdout without it; the summary and what
could not be converted go to stderr. Import the result into Node-RED (menu → Import) or use it as flows.json.`;

/** Exit codes: 0 = converted (or nothing to convert), 2 = bad arguments or not a flow file. */
const EXIT_OK = 0;
const EXIT_USAGE = 2;

/**
 * Runs the CLI.
 * @returns the exit code.
 */
export function main(
  args: string[],
  io: { stdout: (text: string) => void; stderr: (text: string) => void } = {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
  },
): number {
  if (args.length < 1 || args.length > 2 || args[0] === '-h' || args[0] === '--help') {
    io.stderr(`${USAGE}\n`);
    return EXIT_USAGE;
  }
  let flow: unknown;
  try {
    flow = JSON.parse(fs.readFileSync(args[0]!, 'utf8'));
  } catch (err) {
    io.stderr(`azure-iot-convert-edge-flows: cannot read ${args[0]}: ${(err as Error).message}\n`);
    return EXIT_USAGE;
  }
  if (
    !Array.isArray(flow) ||
    !flow.every(
      (n) =>
        typeof n === 'object' &&
        n !== null &&
        typeof (n as FlowNode).id === 'string' &&
        typeof (n as FlowNode).type === 'string',
    )
  ) {
    io.stderr(
      `azure-iot-convert-edge-flows: ${args[0]} is not an exported Node-RED flow (an array of nodes with id ` +
        `and type)\n`,
    );
    return EXIT_USAGE;
  }
  const result = convertEdgeModuleFlow(flow as FlowNode[]);
  const text = `${JSON.stringify(result.nodes, null, 4)}\n`;
  if (args[1]) fs.writeFileSync(args[1], text);
  else io.stdout(text);
  const counts = new Map<string, number>();
  for (const c of result.converted) counts.set(c.from, (counts.get(c.from) ?? 0) + 1);
  const summary = [...counts].map(([type, n]) => `${n} ${type}`).join(', ');
  io.stderr(
    result.converted.length === 0
      ? 'no node of the archived edge-module pack found; the flow is unchanged\n'
      : `converted: ${summary}\n`,
  );
  for (const item of result.unmapped) io.stderr(`not converted: ${item.id} (${item.type}): ${item.reason}\n`);
  return EXIT_OK;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
