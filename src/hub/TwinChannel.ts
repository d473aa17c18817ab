// The MQTT side of twins: answers a module's twin GET and reported PATCH, pushes desired patches to the module.
import type { Client } from 'aedes';
import { subscriptionOf } from './aedesInternals';
import type { ClientTable } from './ClientTable';
import type { ClientSender } from './ClientSender';
import type { FaultState } from './FaultState';
import type { HubTimers } from './HubTimers';
import {
  DESIRED_FILTER,
  TWIN_RES_FILTER,
  clientKey,
  desiredPatchTopic,
  twinResponseTopic,
  type HubIdentity,
} from './hubTopics';
import { HubError } from './hubErrors';
import type { HubReport } from './hubReport';
import type { TwinStore } from './TwinStore';
import type { Twin, TwinPatch } from './types';

/** What the twin channel works with. */
export interface TwinChannelParts {
  twins: TwinStore;
  clients: Pick<ClientTable, 'get'>;
  sender: Pick<ClientSender, 'send' | 'answer'>;
  faults: Pick<FaultState, 'takeTwinFailure' | 'twinResponsesWithheld' | 'twinResponseDelayMs'>;
  timers: Pick<HubTimers, 'later'>;
  report: HubReport;
}

/** Twin requests from modules and service-side twin changes that must reach the module. */
export class TwinChannel {
  constructor(private readonly parts: TwinChannelParts) {}

  /**
   * Answers a twin GET or reported PATCH on `$iothub/twin/res/…` to the connection that asked, subscribed or not
   * (subject to injected faults).
   */
  onRequest(client: Client, identity: HubIdentity, kind: 'get' | 'reported', rid: string, body: Buffer): void {
    const { twins, faults, report } = this.parts;
    const respond = (status: number, payload: Buffer, version?: number): void => {
      report.events.emit('twin', { deviceId: identity.deviceId, moduleId: identity.moduleId, kind, status });
      if (faults.twinResponsesWithheld) return;
      const topic = twinResponseTopic(status, rid, version);
      this.parts.timers.later(
        faults.twinResponseDelayMs,
        () => void this.parts.sender.answer(client, TWIN_RES_FILTER, topic, payload),
      );
    };
    const injected = faults.takeTwinFailure();
    if (injected !== undefined) {
      respond(injected, Buffer.from(JSON.stringify({ errorCode: injected * 1000 + 1, message: 'injected failure' })));
      return;
    }
    try {
      if (kind === 'get') {
        respond(200, Buffer.from(JSON.stringify(twins.deviceView(identity.deviceId, identity.moduleId))));
        return;
      }
      let patch: unknown;
      try {
        patch = JSON.parse(body.toString('utf8'));
      } catch {
        throw new HubError('ArgumentInvalid', 'the reported patch is not valid JSON');
      }
      const version = twins.patchReported(identity.deviceId, identity.moduleId, patch);
      report.log(`${clientKey(identity)} reported properties updated (version ${version})`);
      respond(204, Buffer.alloc(0), version);
    } catch (err) {
      const e = HubError.from(err);
      respond(e.httpStatus, Buffer.from(JSON.stringify({ errorCode: e.errorCode, message: e.message })));
    }
  }

  /**
   * Service-side twin update of `tags` and `properties.desired` (merge); pushes the desired patch to the module.
   * @throws HubError 400 (invalid patch), 404 (unknown identity), 412 (etag mismatch).
   */
  update(deviceId: string, moduleId: string | undefined, patch: TwinPatch, ifMatch?: string): Twin {
    const { twin, desiredPatch } = this.parts.twins.update(deviceId, moduleId, patch, ifMatch);
    if (desiredPatch) this.pushDesired(deviceId, moduleId, desiredPatch);
    return twin;
  }

  /**
   * Service-side twin replace of `tags` and `properties.desired`; pushes the resulting desired patch to the module.
   * @throws HubError 400 (invalid document), 404 (unknown identity), 412 (etag mismatch).
   */
  replace(deviceId: string, moduleId: string | undefined, doc: TwinPatch, ifMatch?: string): Twin {
    const { twin, desiredPatch } = this.parts.twins.replace(deviceId, moduleId, doc, ifMatch);
    if (desiredPatch) this.pushDesired(deviceId, moduleId, desiredPatch);
    return twin;
  }

  /** Sends the patch (with `$version`) to the module when it is connected and subscribed to desired patches. */
  private pushDesired(deviceId: string, moduleId: string | undefined, patch: Record<string, unknown>): void {
    const version = patch.$version as number;
    const { report } = this.parts;
    report.events.emit('twin', { deviceId, moduleId, kind: 'desired', status: 200 });
    report.log(`${clientKey({ deviceId, moduleId })} desired properties updated (version ${version})`);
    const client = this.parts.clients.get(clientKey({ deviceId, moduleId }));
    if (!client || !subscriptionOf(client, DESIRED_FILTER)) return;
    void this.parts.sender.send(client, DESIRED_FILTER, desiredPatchTopic(version), Buffer.from(JSON.stringify(patch)));
  }
}
