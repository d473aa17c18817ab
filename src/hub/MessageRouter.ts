// edgeHub message routing: sends a module's events publish where the routes say ($upstream or module inputs of the
// same device).
import type { InputDelivery } from './InputDelivery';
import { clientKey, type HubIdentity } from './hubTopics';
import type { HubReport } from './hubReport';
import { resolveEndpoints, type Route } from './routes';
import { telemetryMessage } from './telemetryMessages';
import type { HubMessage } from './types';

/** Routes telemetry by the current routes (none = everything to `$upstream`). */
export class MessageRouter {
  constructor(
    private routes: Route[],
    private readonly inputs: Pick<InputDelivery, 'deliver'>,
    private readonly report: HubReport,
  ) {}

  /** Replaces the routes. */
  setRoutes(routes: Route[]): void {
    this.routes = routes;
  }

  /**
   * Routes an events publish from a module or device.
   * @returns resolves once every module input it was routed to has it (sent, or stored for later); never rejects.
   */
  onTelemetry(identity: HubIdentity, bag: string, body: Buffer): Promise<void> {
    return this.route(telemetryMessage(identity, bag, body, new Date().toISOString()));
  }

  private route(message: HubMessage): Promise<void> {
    const deliveries: Array<Promise<void>> = [];
    const endpoints = resolveEndpoints(this.routes, message);
    const source = clientKey({ deviceId: message.deviceId, moduleId: message.moduleId });
    for (const endpoint of endpoints) {
      if (endpoint.kind === 'upstream') {
        this.report.observed.record('upstream', message);
        this.report.observed.counters.upstream++;
        this.report.log(
          `$upstream <- ${source}${message.outputName ? ` (output ${message.outputName})` : ''}: ` +
            `${message.body.length} bytes`,
        );
        this.report.events.emit('upstream', message);
      } else {
        // Routes deliver to modules of the device the message came from.
        deliveries.push(
          this.inputs.deliver(message.deviceId, endpoint.moduleId, endpoint.inputName, message).catch(() => undefined),
        );
      }
    }
    return deliveries.length === 0 ? Promise.resolve() : Promise.all(deliveries).then(() => undefined);
  }
}
