// The events topic (`…/messages/events/<property bag>`) of one client's messages, reusing the last one built when a
// message carries the same properties as the one before — the usual case for telemetry.
import type { Message } from '../models/Message';
import { encodeMessageProperties } from './properties';
import { eventsTopic, type TopicIdentity } from './topics';

/** The properties a topic was built from (string values only, see {@link EventsTopics.topicFor}). */
interface BuiltTopic {
  outputName: string | undefined;
  messageId: string | undefined;
  correlationId: string | undefined;
  userId: string | undefined;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  interfaceId: string | undefined;
  expiryTimeUtc: string | undefined;
  /** Copy of the custom properties (null prototype: any key is safe to look up). */
  custom: Record<string, string>;
  customCount: number;
  topic: string;
}

/**
 * Builds events topics for one identity. Encoding the bag is most of what this client does per publish beyond
 * mqtt.js, so the last topic is kept together with a copy of the properties it encodes: a message whose properties
 * are all equal to those (compared value by value, no allocation) gets the same topic string back. Only string
 * values are remembered — a Date or another object could change without its identity changing.
 */
export class EventsTopics {
  private readonly prefix: string;
  private last: BuiltTopic | undefined;

  constructor(id: TopicIdentity) {
    this.prefix = eventsTopic(id, '');
  }

  topicFor(message: Message): string {
    const last = this.last;
    if (last !== undefined && sameProperties(last, message)) return last.topic;
    const topic = this.prefix + encodeMessageProperties(message);
    this.last = remember(message, topic);
    return topic;
  }
}

function sameProperties(last: BuiltTopic, m: Message): boolean {
  if (
    last.outputName !== m.outputName ||
    last.messageId !== m.messageId ||
    last.correlationId !== m.correlationId ||
    last.userId !== m.userId ||
    last.contentType !== m.contentType ||
    last.contentEncoding !== m.contentEncoding ||
    last.interfaceId !== m.iothubInterfaceId ||
    last.expiryTimeUtc !== m.expiryTimeUtc
  ) {
    return false;
  }
  const custom = m.customProperties;
  if (!custom) return last.customCount === 0;
  let count = 0;
  for (const key in custom) {
    if (!Object.hasOwn(custom, key) || last.custom[key] !== custom[key]) return false;
    count += 1;
  }
  return count === last.customCount;
}

/** What to compare the next message with; undefined when a value is not a string (or absent). */
function remember(m: Message, topic: string): BuiltTopic | undefined {
  const system = [
    m.outputName,
    m.messageId,
    m.correlationId,
    m.userId,
    m.contentType,
    m.contentEncoding,
    m.iothubInterfaceId,
    m.expiryTimeUtc,
  ];
  if (!system.every((v) => v === undefined || typeof v === 'string')) return undefined;
  const custom: Record<string, string> = Object.create(null) as Record<string, string>;
  let customCount = 0;
  if (m.customProperties) {
    for (const key of Object.keys(m.customProperties)) {
      const value: unknown = m.customProperties[key];
      if (typeof value !== 'string') return undefined;
      custom[key] = value;
      customCount += 1;
    }
  }
  return {
    outputName: m.outputName,
    messageId: m.messageId,
    correlationId: m.correlationId,
    userId: m.userId,
    contentType: m.contentType,
    contentEncoding: m.contentEncoding,
    interfaceId: m.iothubInterfaceId,
    expiryTimeUtc: m.expiryTimeUtc as string | undefined,
    custom,
    customCount,
    topic,
  };
}
