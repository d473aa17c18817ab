// The client's MQTT subscriptions by feature (inputs, methods, twin responses, desired patches): which are enabled,
// their topics, and subscribing them — all of them again after every connect (unlike the Python SDK, which relies on
// the session: the hub may have lost it, e.g. after an edgeHub restart).
import { ClientError, OperationTimeout } from './errors';
import type { Clock } from './clock';
import type { MqttConnection } from './transport/MqttConnection';
import {
  DESIRED_PATCH_SUBSCRIPTION,
  METHODS_SUBSCRIPTION,
  TWIN_RESPONSE_SUBSCRIPTION,
  inputsSubscription,
  type TopicIdentity,
} from './transport/topics';

/** A subscription the client holds while some handler or call needs it. */
export type Feature = 'input' | 'methods' | 'twin' | 'desired';

/** SUBACK return code of a refused subscription. */
const REFUSED = 128;

/** The enabled features of one client and their subscriptions; every SUBSCRIBE / UNSUBSCRIBE has a time limit. */
export class Subscriptions {
  private readonly enabled = new Set<Feature>();

  constructor(
    private readonly topicId: TopicIdentity,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    /** ensureDesiredProperties: the desired feature also needs twin responses. */
    private readonly ensureDesiredProperties: boolean,
  ) {}

  has(feature: Feature): boolean {
    return this.enabled.has(feature);
  }

  /** Marks a feature enabled; false when it already was. */
  enable(feature: Feature): boolean {
    if (this.enabled.has(feature)) return false;
    this.enabled.add(feature);
    return true;
  }

  /** Marks a feature disabled; false when it was not enabled. */
  disable(feature: Feature): boolean {
    return this.enabled.delete(feature);
  }

  /**
   * Subscribes every enabled feature in one SUBSCRIBE; the ones the hub refuses are disabled and returned.
   * @throws OperationTimeout without SUBACK in time; ConnectionDroppedError.
   */
  async restore(connection: MqttConnection): Promise<Feature[]> {
    if (this.enabled.has('desired') && this.ensureDesiredProperties) {
      // ensureDesiredProperties GETs the twin right after: its response subscription must exist first.
      this.enabled.add('twin');
    }
    if (this.enabled.size === 0) return [];
    const features = [...this.enabled];
    const granted = await this.withTimeout(connection.subscribe(features.map((f) => this.topic(f))), 'SUBSCRIBE');
    const refused = features.filter((_, i) => granted[i] === REFUSED);
    for (const f of refused) this.enabled.delete(f);
    return refused;
  }

  /**
   * Subscribes one (enabled) feature now.
   * @throws ClientError 'service-error' when the hub refuses it (it is then disabled); OperationTimeout; connection
   * errors.
   */
  async subscribe(connection: MqttConnection, feature: Feature): Promise<void> {
    const topic = this.topic(feature);
    const granted = await this.withTimeout(connection.subscribe([topic]), 'SUBSCRIBE');
    if (granted[0] === REFUSED) {
      this.enabled.delete(feature);
      throw new ClientError(`Subscription to ${topic} refused by the hub`, { code: 'service-error' });
    }
  }

  /** @throws OperationTimeout without UNSUBACK in time; connection errors. */
  unsubscribe(connection: MqttConnection, feature: Feature): Promise<void> {
    return this.withTimeout(connection.unsubscribe([this.topic(feature)]), 'UNSUBSCRIBE');
  }

  private topic(feature: Feature): string {
    if (feature === 'input') return inputsSubscription(this.topicId);
    if (feature === 'methods') return METHODS_SUBSCRIPTION;
    if (feature === 'twin') return TWIN_RESPONSE_SUBSCRIPTION;
    return DESIRED_PATCH_SUBSCRIPTION;
  }

  private withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
    const ms = this.timeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(
        () => reject(new OperationTimeout(`${what} not acknowledged within ${ms} ms`)),
        ms,
      );
      promise.then(
        (v) => {
          this.clock.clearTimeout(timer);
          resolve(v);
        },
        (e: Error) => {
          this.clock.clearTimeout(timer);
          reject(e);
        },
      );
    });
  }
}
