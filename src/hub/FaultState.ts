// Fault injection state for the local hub (a local-hub-only test aid, no IoT Hub counterpart): what the hub should
// break next, and the actions that break now.
import type { HubFaults } from './types';

/** What the hub does when a fault acts at once (close connections). */
export interface FaultActions {
  drop(clientId: string, reason: string): void;
  dropAll(reason: string): void;
}

/** The fault controls; the hub reads the state through the `take…`/getter members. */
export class FaultState implements HubFaults {
  private refuseCount = 0;
  private refuseCode = 5;
  private twinDelayMs = 0;
  private twinWithheld = false;
  private twinFailCount = 0;
  private twinFailStatus = 500;
  private methodDelayMs = 0;
  private methodWithheld = false;

  constructor(private readonly actions: FaultActions) {}

  dropConnection(clientId: string): void {
    this.actions.drop(clientId, 'fault: connection dropped');
  }

  dropAll(): void {
    this.actions.dropAll('fault: all connections dropped');
  }

  refuseConnects(count: number, returnCode: number): void {
    this.refuseCount = Math.max(0, Math.floor(count));
    this.refuseCode = returnCode;
  }

  delayTwinResponses(ms: number): void {
    this.twinDelayMs = Math.max(0, ms);
  }

  withholdTwinResponses(withhold: boolean): void {
    this.twinWithheld = withhold;
  }

  failTwinRequests(status: number, count: number): void {
    this.twinFailStatus = status;
    this.twinFailCount = Math.max(0, Math.floor(count));
  }

  delayMethodRequests(ms: number): void {
    this.methodDelayMs = Math.max(0, ms);
  }

  withholdMethodRequests(withhold: boolean): void {
    this.methodWithheld = withhold;
  }

  expireToken(clientId: string): void {
    // IoT Hub 401003: the token lifetime ended, the connection is closed.
    this.actions.drop(clientId, 'token expired (401003)');
  }

  clear(): void {
    this.refuseCount = 0;
    this.twinDelayMs = 0;
    this.twinWithheld = false;
    this.twinFailCount = 0;
    this.methodDelayMs = 0;
    this.methodWithheld = false;
  }

  /** The return code to refuse this CONNECT with, consuming one refusal; undefined = no refusal pending. */
  takeConnectRefusal(): number | undefined {
    if (this.refuseCount <= 0) return undefined;
    this.refuseCount--;
    return this.refuseCode;
  }

  /** The status to fail this twin request with, consuming one; undefined = answer normally. */
  takeTwinFailure(): number | undefined {
    if (this.twinFailCount <= 0) return undefined;
    this.twinFailCount--;
    return this.twinFailStatus;
  }

  get twinResponseDelayMs(): number {
    return this.twinDelayMs;
  }

  get twinResponsesWithheld(): boolean {
    return this.twinWithheld;
  }

  get methodRequestDelayMs(): number {
    return this.methodDelayMs;
  }

  get methodRequestsWithheld(): boolean {
    return this.methodWithheld;
  }
}
