// Turns BenchResults into the target ratios and the Markdown report (RESULTS.md); pure functions.
import type { BenchResults, LatencyRow, RateRow, RatioRow } from './results';
import { ratio } from './stats';

const MB = 1024 * 1024;

function rate(results: BenchResults, c: string, scenario: string, impl: string): number | undefined {
  return results.rates.find((r) => r.case === c && r.scenario === scenario && r.impl === impl)?.summary.median;
}

function p50(results: BenchResults, scenario: string, impl: string): number | undefined {
  return results.latencies.find((r) => r.case === '3' && r.scenario === scenario && r.impl === impl)?.summary.p50;
}

/** The issue's targets as ratios from one run (pass = null when a figure is missing). */
export function computeRatios(results: BenchResults): RatioRow[] {
  const rows: RatioRow[] = [];
  const add = (name: string, value: number, target: string, test?: (v: number) => boolean): void => {
    rows.push({ name, value, target, pass: Number.isFinite(value) && test ? test(value) : test ? null : null });
  };
  for (const s of ['all in flight', 'one at a time']) {
    add(
      `this client / raw mqtt.js, ${s}`,
      ratio(rate(results, '1', s, 'this client'), rate(results, '1', s, 'raw mqtt.js')),
      '≥ 0.95',
      (v) => v >= 0.95,
    );
    add(
      `this client / official SDK, ${s}`,
      ratio(rate(results, '1', s, 'this client'), rate(results, '1', s, 'azure-iot-device')),
      '≥ 1.25',
      (v) => v >= 1.25,
    );
  }
  for (const s of ['all in flight', 'one at a time']) {
    add(
      `Node-RED output node, ack output / this client alone, ${s}`,
      ratio(rate(results, '2', s, 'iothub-module-output'), rate(results, '1', s, 'this client')),
      '≥ 0.8',
      (v) => v >= 0.8,
    );
    add(
      `Node-RED output node, done() / core mqtt out (same acknowledgement), ${s}`,
      ratio(rate(results, '2', s, 'iothub-module-output, done()'), rate(results, '2', s, 'core mqtt out')),
      '≥ 1.0',
      (v) => v >= 1,
    );
    add(
      `Node-RED output node, ack output / core mqtt out, ${s}`,
      ratio(rate(results, '2', s, 'iothub-module-output'), rate(results, '2', s, 'core mqtt out')),
      '(info)',
    );
    add(
      `reference: core mqtt out / raw mqtt.js alone (Node-RED's own cost), ${s}`,
      ratio(rate(results, '2', s, 'core mqtt out'), rate(results, '1', s, 'raw mqtt.js')),
      '(info)',
    );
  }
  add(
    'method round trip p50: this client / raw mqtt.js',
    ratio(p50(results, 'method round trip', 'this client'), p50(results, 'method round trip', 'raw mqtt.js')),
    '≤ 1.2',
    (v) => v <= 1.2,
  );
  add(
    'method round trip p50: Node-RED / raw mqtt.js',
    ratio(p50(results, 'method round trip', 'Node-RED nodes'), p50(results, 'method round trip', 'raw mqtt.js')),
    '(info)',
  );
  add(
    'method round trip p50: this client / official SDK',
    ratio(p50(results, 'method round trip', 'this client'), p50(results, 'method round trip', 'azure-iot-device')),
    '(info)',
  );
  add(
    'twin patch p50: this client / raw mqtt.js',
    ratio(p50(results, 'twin reported patch', 'this client'), p50(results, 'twin reported patch', 'raw mqtt.js')),
    '(info)',
  );
  add(
    'twin patch p50: Node-RED / this client',
    ratio(p50(results, 'twin reported patch', 'Node-RED nodes'), p50(results, 'twin reported patch', 'this client')),
    '(info)',
  );
  add(
    'input fan-in: Node-RED input node / this client alone',
    ratio(rate(results, '4', 'input fan-in', 'iothub-module-input'), rate(results, '4', 'input fan-in', 'this client')),
    '(info)',
  );
  add(
    'input fan-in: this client / raw mqtt.js',
    ratio(rate(results, '4', 'input fan-in', 'this client'), rate(results, '4', 'input fan-in', 'raw mqtt.js')),
    '(info)',
  );
  const nr = results.memory.find((m) => m.impl.startsWith('Node-RED'));
  add(
    'memory per extra client, Node-RED config node (MB RSS)',
    nr ? nr.rssPerExtra / MB : Number.NaN,
    '≤ 2 MB',
    (v) => v <= 2,
  );
  const alone = results.memory.find((m) => m.impl === 'this client alone');
  add('memory per extra client, this client alone (MB RSS)', alone ? alone.rssPerExtra / MB : Number.NaN, '(info)');
  const ours = results.footprint[0];
  const sdk = results.footprint.find((f) => f.name.startsWith('azure-iot-device'));
  add('production install size: this pack / official SDK', ratio(ours?.bytes, sdk?.bytes), '≤ 0.40', (v) => v <= 0.4);
  add('production package count: this pack / official SDK', ratio(ours?.packages, sdk?.packages), '(info)');
  for (const r of results.rates.filter((x) => x.case === '8' && x.impl === 'state directory')) {
    add(
      `hub with a state directory / in memory, ${r.scenario}`,
      ratio(r.summary.median, rate(results, '8', r.scenario, 'in memory')),
      '≥ 0.7',
      (v) => v >= 0.7,
    );
  }
  for (const r of results.rates.filter((x) => x.case === '7' && x.impl === 'this client')) {
    add(
      `payload ${r.bytes} B: this client / raw mqtt.js`,
      ratio(r.summary.median, rate(results, '7', r.scenario, 'raw mqtt.js')),
      '(info)',
    );
  }
  return rows;
}

const f0 = (v: number): string => (Number.isFinite(v) ? v.toFixed(0) : 'n/a');
const f2 = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? v.toFixed(2) : 'n/a');
const f3 = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? v.toFixed(3) : 'n/a');
const mb = (v: number): string => (v / MB).toFixed(2);

function table(head: string[], rows: string[][], align?: string[]): string {
  return [
    `| ${head.join(' | ')} |`,
    `|${(align ?? head.map(() => '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function rateTable(
  rows: RateRow[],
  refs: Array<{ label: string; ref: (r: RateRow) => number | undefined }>,
  extra?: (r: RateRow) => string[],
): string {
  const head = [
    'scenario',
    'implementation',
    'messages',
    'median msg/s',
    'min–max msg/s',
    'spread',
    'CPU µs/msg',
    'hub CPU µs/msg',
    ...(extra ? ['MB/s'] : []),
    ...refs.map((r) => r.label),
  ];
  return table(
    head,
    rows.map((r) => [
      r.scenario,
      r.impl,
      String(r.messages),
      f0(r.summary.median),
      `${f0(r.summary.min)}–${f0(r.summary.max)}`,
      `${r.summary.spreadPct.toFixed(0)} %`,
      r.cpuUsPerMsg !== undefined ? r.cpuUsPerMsg.toFixed(1) : 'n/a',
      r.hubCpuUsPerMsg !== undefined ? r.hubCpuUsPerMsg.toFixed(1) : 'n/a',
      ...(extra ? extra(r) : []),
      ...refs.map((x) => f2(ratio(r.summary.median, x.ref(r)))),
    ]),
    head.map((_, i) => (i < 2 ? '---' : '---:')),
  );
}

function latencyTable(rows: LatencyRow[], withRaw: boolean): string {
  const head = [
    'scenario',
    'implementation',
    'samples',
    'p50 ms',
    'p90 ms',
    'p99 ms',
    'run p50s min–max ms',
    ...(withRaw ? ['p50 × raw mqtt.js'] : []),
  ];
  return table(
    head,
    rows.map((r) => {
      const raw = rows.find((x) => x.scenario === r.scenario && x.impl === 'raw mqtt.js');
      return [
        r.scenario,
        r.impl,
        String(r.summary.count),
        f3(r.summary.p50),
        f3(r.summary.p90),
        f3(r.summary.p99),
        `${f3(Math.min(...r.runP50s))}–${f3(Math.max(...r.runP50s))}`,
        ...(withRaw ? [f2(ratio(r.summary.p50, raw?.summary.p50))] : []),
      ];
    }),
    head.map((_, i) => (i < 2 ? '---' : '---:')),
  );
}

/** The Markdown report. */
export function renderMarkdown(results: BenchResults): string {
  const m = results.meta;
  const out: string[] = [];
  out.push('# Benchmark results', '');
  out.push(
    `Latest \`${m.command}\` run, ${m.date}${m.quick ? ' (QUICK counts: development run, not for quoting)' : ''}.`,
    '',
  );
  out.push(
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB.toFixed(1)} GiB; ${m.platform}; Node ` +
      `${m.node}${m.nodeRed ? `; Node-RED ${m.nodeRed}` : ''}. ` +
      `Run time ${m.durationSeconds !== undefined ? `${m.durationSeconds.toFixed(0)} s` : 'n/a'}. ` +
      `The local hub runs in its own process (bench/hubProcess); clients and the Node-RED runtime run in the ` +
      `benchmark process${m.pinning ? `; pinning: ${m.pinning}` : ' (no CPU pinning)'}. ` +
      `Every throughput figure is the median of ${m.runs} measured runs after a warm-up, implementations ` +
      `interleaved run by run; spread = (max − min) / median; ` +
      `CPU µs/msg = median CPU time (user + system) of the benchmark process per message (the hub process ` +
      `excluded), steadier than wall-clock rates on a shared machine; hub CPU µs/msg = the same for the ` +
      `hub process (it includes the hub's own recording of every publish).`,
    '',
  );
  out.push('## Targets', '');
  out.push(
    table(
      ['ratio', 'value', 'target', 'met'],
      results.ratios.map((r) => [r.name, f2(r.value), r.target, r.pass === null ? '–' : r.pass ? 'yes' : '**no**']),
      ['---', '---:', '---', '---'],
    ),
    '',
  );
  const c1 = results.rates.filter((r) => r.case === '1');
  if (c1.length) {
    out.push('## 1. QoS 1 output events (200-byte JSON, 3 application properties, content type/encoding)', '');
    out.push(
      rateTable(c1, [
        { label: '× raw mqtt.js', ref: (r) => rate(results, '1', r.scenario, 'raw mqtt.js') },
        { label: '× official SDK', ref: (r) => rate(results, '1', r.scenario, 'azure-iot-device') },
      ]),
      '',
    );
    out.push(
      'All in flight: every send started at once, time until the last PUBACK. One at a time: each send ' +
        'awaits the previous PUBACK. Raw mqtt.js publishes the same topic (property bag computed once) and ' +
        'payload.',
      '',
    );
  }
  const c2 = results.rates.filter((r) => r.case === '2');
  if (c2.length) {
    out.push('## 2. Through Node-RED (runtime in the benchmark process)', '');
    out.push(
      rateTable(c2, [
        { label: '× this client alone', ref: (r) => rate(results, '1', r.scenario, 'this client') },
        { label: '× core mqtt out', ref: (r) => rate(results, '2', r.scenario, 'core mqtt out') },
      ]),
      '',
    );
    out.push(
      'inject → `iothub-module-output` (acknowledgement output: the msg leaves after PUBACK) → sink; the ' +
        'same node without that output, acknowledged by its `done()` (onComplete hook) exactly as the core ' +
        'node is measured; inject → core `mqtt out` (mqtt-broker over TLS with the hub CA via tls-config, ' +
        'module SAS token, client id `{device}/{module}`, QoS 1, same topic), acknowledged by its `done()` ' +
        '(onComplete hook). Every inject builds the same msg: the JSON payload object and msg.properties ' +
        '(which the core node ignores: its fixed topic carries the same property bag).',
      '',
    );
  }
  const c3 = results.latencies.filter((r) => r.case === '3');
  if (c3.length) {
    out.push('## 3. Round trips', '');
    out.push(latencyTable(c3, true), '');
    out.push(
      'Method: the service-side `invokeMethod` is called and timed in the hub process (no HTTP), one call at ' +
        'a time; the module answers status 200 with the request payload (Node-RED: ' +
        '`iothub-module-method-request` → `iothub-module-method-response`). Twin: a reported patch until ' +
        "the hub's 204 (Node-RED: inject → `iothub-module-twin`, until its `done()`).",
      '',
    );
  }
  const c4 = results.rates.filter((r) => r.case === '4');
  if (c4.length) {
    out.push('## 4. Input fan-in', '');
    out.push(
      rateTable(c4, [{ label: '× this client alone', ref: () => rate(results, '4', 'input fan-in', 'this client') }]),
      '',
    );
    out.push(
      'The hub process delivers 200-byte JSON messages with 3 properties to the module input ' +
        '(hub.sendToInput, up to 100 queued); timed from the request to the last message seen by the receiver.',
      '',
    );
  }
  const c5 = results.latencies.filter((r) => r.case === '5');
  if (c5.length || results.memory.length) {
    out.push('## 5. Connect time and memory', '');
    if (c5.length) {
      out.push(latencyTable(c5, false), '');
      out.push(c5.map((r) => `* ${r.impl}: ${r.note ?? ''}`).join('\n'), '');
    }
    if (results.memory.length) {
      out.push(
        table(
          [
            'implementation',
            'clients',
            'RSS 1 client MB',
            `RSS N clients MB`,
            'RSS per extra client MB',
            'heap+external per extra client MB',
          ],
          results.memory.map((r) => [
            r.impl + (r.note ? ` (${r.note})` : ''),
            String(r.clients),
            mb(r.rssOne),
            mb(r.rssMany),
            mb(r.rssPerExtra),
            mb(r.heapPerExtra),
          ]),
          ['---', '---:', '---:', '---:', '---:', '---:'],
        ),
        '',
      );
      out.push(
        'Each row is a fresh process (--expose-gc, GC before reading); per extra client = (N clients − 1 ' +
          'client) / (N − 1).',
        '',
      );
    }
  }
  if (results.footprint.length) {
    out.push('## 6. Install footprint (production dependency tree)', '');
    out.push(
      table(
        ['tree', 'packages', 'files', 'size MB', 'largest packages (MB)'],
        results.footprint.map((r) => [
          r.name,
          String(r.packages),
          String(r.files),
          mb(r.bytes),
          r.largest.map((l) => `${l.name} ${mb(l.bytes)}`).join(', '),
        ]),
        ['---', '---:', '---:', '---:', '---'],
      ),
      '',
    );
    const npm = results.footprint.find((f) => f.npmLsPackages !== undefined);
    out.push(
      'Walked from the roots through installed node_modules as Node resolves them (dependencies + ' +
        'optionalDependencies), each package counted once, nested node_modules excluded from its parent. ' +
        'This pack counts its published files (package.json `files`: JavaScript built without comments, .d.ts with their TSDoc, editor files, examples, README) as one ' +
        'package.' +
        " The optional peer dependencies (the hub state directory's LevelDB packages) are not installed with " +
        'the pack: the install-size ratio is taken on the first row.' +
        (npm
          ? ` Cross-check: \`npm ls --omit=dev --all --parseable\` lists ${npm.npmLsPackages} dependency ` +
            `packages (the walk finds ${npm.packages - 1}; npm also lists the optional peers installed here ` +
            `as dev dependencies, and part of their trees).`
          : ''),
      '',
    );
  }
  const c7 = results.rates.filter((r) => r.case === '7');
  if (c7.length) {
    out.push('## 7. Payload scaling (all in flight)', '');
    out.push(
      rateTable(c7, [{ label: '× raw mqtt.js', ref: (r) => rate(results, '7', r.scenario, 'raw mqtt.js') }], (r) => [
        ((r.summary.median * (r.bytes ?? 0)) / MB).toFixed(1),
      ]),
      '',
    );
  }
  const c8 = results.rates.filter((r) => r.case === '8');
  if (c8.length) {
    out.push('## 8. Hub with a state directory', '');
    out.push(rateTable(c8, [{ label: '× in memory', ref: (r) => rate(results, '8', r.scenario, 'in memory') }]), '');
    out.push(
      'Two hub processes side by side, interleaved run by run: the in-memory hub and one with a state ' +
        'directory (LevelDB). Raw mqtt.js clients; the receiver connects with cleanSession: false, so its ' +
        'QoS 1 messages pass through the session store; a routed message is acknowledged (PUBACK) once its ' +
        'copy for the receiver is stored. Timed until the last message is acknowledged (events) or received ' +
        '(routed, fan-in).',
      '',
    );
  }
  if (results.errors.length) {
    out.push('## Errors', '');
    out.push(results.errors.map((e) => `* case ${e.case}: ${e.error.split('\n')[0]}`).join('\n'), '');
  }
  return out.join('\n');
}
