// Drives inject nodes of the embedded runtime and waits for acknowledgements, all in flight or one at a time.
import type { NodeRedHarness } from '../nodeRed';

export interface FlowProbe {
  /** Inject node to trigger for each message. */
  injectId: string;
  /** How an acknowledgement is seen: a message reaching a sink node, or a node calling done(). */
  ackBy: { sink: string } | { complete: string };
  /** Sink node fed by a catch node: a message there fails the run. */
  errorSink?: string;
}

/**
 * Pushes `n` messages through a flow and resolves with the elapsed seconds once all are acknowledged.
 * @throws Error on a caught flow error or when the run exceeds `timeoutMs`.
 */
export function runFlow(
  red: NodeRedHarness,
  probe: FlowProbe,
  n: number,
  mode: 'all' | 'sequential',
  timeoutMs = 180_000,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let acked = 0;
    let sent = 0;
    // Set when the first message is injected: registering the listeners (Node-RED hooks) is the harness's cost.
    let start = process.hrtime.bigint();
    const finish = (err?: Error): void => {
      // Timed before the listeners (Node-RED hooks) are removed: that is the harness's cost, not the flow's.
      const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
      clearTimeout(timer);
      red.onSink(null);
      red.onComplete(null);
      if (err) reject(err);
      else resolve(elapsed);
    };
    const timer = setTimeout(
      () => finish(new Error(`flow run timed out after ${acked}/${n} acknowledgements`)),
      timeoutMs,
    );
    const ack = (): void => {
      acked += 1;
      if (acked === n) finish();
      else if (mode === 'sequential') trigger();
    };
    const trigger = (): void => {
      sent += 1;
      red.trigger(probe.injectId, { seq: sent });
    };
    red.onSink((id, msg) => {
      if (probe.errorSink && id === probe.errorSink) {
        const error = msg.error as { message?: string } | undefined;
        finish(new Error(`flow error: ${error?.message ?? JSON.stringify(msg.error)}`));
      } else if ('sink' in probe.ackBy && id === probe.ackBy.sink) ack();
    });
    if ('complete' in probe.ackBy) {
      const target = probe.ackBy.complete;
      red.onComplete((id, error) => {
        if (id !== target) return;
        if (error) finish(new Error(`flow error: ${String((error as Error).message ?? error)}`));
        else ack();
      });
    }
    if (n === 0) return finish();
    start = process.hrtime.bigint();
    if (mode === 'all') for (let i = 0; i < n; i += 1) trigger();
    else trigger();
  });
}
