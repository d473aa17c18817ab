// The npm start demo's simulated temperature: bounded and mean-reverting over a long run (the function node's code run
// with a fake clock and context, as Node-RED's function node would run it).
import assert from 'node:assert/strict';
import { SIMULATED_SENSOR } from '../../scripts/demoSensor';

type Store = Map<string, unknown>;
const store = (map: Store) => ({ get: (k: string) => map.get(k), set: (k: string, v: unknown) => void map.set(k, v) });

/** Runs the sensor `count` times, one reading every `stepMs` from `start`; returns the temperatures. */
function run(count: number, stepMs: number, start: number): Array<{ temperature: number; humidity: number }> {
  let now = start;
  // The function node's code sees Date through this stand-in only (Date.now for the day curve, new Date for `at`).
  const FakeDate = class extends Date {
    constructor() {
      super(now);
    }
    static override now(): number {
      return now;
    }
  };
  // Runs the demo's Function-node source as Node-RED's Function node does.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the demo's Function-node source
  const sensor = new Function('msg', 'context', 'flow', 'Date', SIMULATED_SENSOR) as (
    msg: Record<string, unknown>,
    context: unknown,
    flow: unknown,
    date: unknown,
  ) => { payload: { temperature: number; humidity: number } };
  const context = store(new Map());
  const flow = store(new Map());
  const out: Array<{ temperature: number; humidity: number }> = [];
  for (let i = 0; i < count; i += 1) {
    out.push(sensor({}, context, flow, FakeDate).payload);
    now += stepMs;
  }
  return out;
}

describe('npm start demo: simulated sensor', () => {
  it('stays within 17–25 °C over 24 hours of readings every 2 s, whatever the phase it starts at', () => {
    for (const start of [0, 150_000, 300_000, 450_000]) {
      const readings = run(43_200, 2000, start);
      const temperatures = readings.map((r) => r.temperature);
      assert.ok(
        Math.min(...temperatures) >= 17 && Math.max(...temperatures) <= 25,
        `${Math.min(...temperatures)}…${Math.max(...temperatures)}`,
      );
      for (const { humidity } of readings) assert.ok(humidity >= 30 && humidity <= 70, String(humidity));
    }
  });

  it('does not drift: after 5 minutes and after 24 hours the same phase reads about the same', () => {
    // Ten-minute days: readings at the same phase, a day apart, differ only by the noise.
    const readings = run(43_200 + 1, 2000, 0).map((r) => r.temperature);
    const at = (i: number) => readings.slice(i, i + 30).reduce((a, b) => a + b, 0) / 30;
    assert.ok(Math.abs(at(43_200 - 300) - at(0)) < 0.5, `${at(0)} then ${at(43_200 - 300)}`);
    // 5 minutes = half a compressed day: the curve has gone up and come back down.
    const fiveMinutes = readings.slice(0, 150);
    assert.ok(Math.max(...fiveMinutes) - Math.min(...fiveMinutes) < 6);
    assert.ok(Math.abs(fiveMinutes[149]! - fiveMinutes[0]!) < 2, `${fiveMinutes[0]} → ${fiveMinutes[149]}`);
  });

  it('changes by a few tenths per reading at most (no jumps)', () => {
    const temperatures = run(3000, 2000, 0).map((r) => r.temperature);
    for (let i = 1; i < temperatures.length; i += 1)
      assert.ok(Math.abs(temperatures[i]! - temperatures[i - 1]!) <= 1, `${temperatures[i - 1]} → ${temperatures[i]}`);
  });
});
