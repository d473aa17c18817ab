// The message model (the Python SDK's Message): what is sent to / received from the hub, with its system and custom
// properties.

/** The interface id the Python SDK's set_as_security_message() stamps on security messages. */
export const SECURITY_INTERFACE_ID = 'urn:azureiot:Security:SecurityAgent:1';

/** Options of the {@link Message} constructor (the Python SDK's keyword arguments). */
export interface MessageOptions {
  messageId?: string;
  contentEncoding?: string;
  contentType?: string;
  outputName?: string;
}

/** A telemetry / output message, or an input message received from edgeHub. */
export class Message {
  /** Payload. Received messages carry a Buffer with the raw bytes (never decoded). */
  data: string | Buffer | number;
  /** Application properties. On receive, every non-system property lands here (incl. `$.on`, `$.cdid`, `$.cmid`). */
  customProperties: Record<string, string> = {};
  messageId?: string;
  correlationId?: string;
  userId?: string;
  contentType?: string;
  contentEncoding?: string;
  outputName?: string;
  /** Set on received messages. */
  inputName?: string;
  expiryTimeUtc?: string | Date;
  /** From `iothub-ack` on receive. */
  ack?: string;
  private _iothubInterfaceId?: string;

  /** @param data payload: a string (sent as UTF-8), a Buffer (sent as is) or a number (sent as its decimal text). */
  constructor(data: string | Buffer | number, options: MessageOptions = {}) {
    this.data = data;
    if (options.messageId !== undefined) this.messageId = options.messageId;
    if (options.contentEncoding !== undefined) this.contentEncoding = options.contentEncoding;
    if (options.contentType !== undefined) this.contentType = options.contentType;
    if (options.outputName !== undefined) this.outputName = options.outputName;
  }

  /** `urn:azureiot:Security:SecurityAgent:1` after {@link setAsSecurityMessage}, else undefined. */
  get iothubInterfaceId(): string | undefined {
    return this._iothubInterfaceId;
  }

  /** Marks the message as an Azure Security Center message (sets `$.ifid`). */
  setAsSecurityMessage(): void {
    this._iothubInterfaceId = SECURITY_INTERFACE_ID;
  }

  /** The payload for the wire without copying: a Buffer as is, a string (sent as UTF-8), a number as its text. */
  wirePayload(): Buffer | string {
    return typeof this.data === 'number' ? String(this.data) : this.data;
  }
}
