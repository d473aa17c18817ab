// Direct method calls on other modules or devices through edgeHub's HTTP endpoint. Only clients created from the
// IoT Edge environment have one, as in the Python SDK (invoke_method elsewhere fails with ClientError).
import { invokeMethodOverHttp, type InvokeMethodOverHttpArgs } from './transport/http';
import type { Credentials } from './Credentials';
import type { ResolvedOptions } from './options';
import type { MethodParams, MethodResult } from './types';

/** The options an invocation reads. */
type InvokeOptions = Pick<
  ResolvedOptions,
  'operationTimeout' | 'productInfo' | 'serverVerificationCert' | 'cipher' | 'proxyOptions'
>;

/** Invokes direct methods as this module, authenticated with its current SAS token. */
export class EdgeMethodInvoker {
  constructor(
    private readonly credentials: Credentials,
    private readonly options: InvokeOptions,
    private readonly userAgent: string,
  ) {}

  /**
   * Invokes `methodParams.methodName` on `deviceId` (and `moduleId`). The HTTP call may take the hub's connect and
   * response timeouts plus a margin, or `operationTimeout` when that is longer.
   * @throws ClientError with statusCode / errorCode from the hub ('device-not-online' 404103, 'gateway-timeout'
   *   504101, …); OperationTimeout; connection errors; what the signer throws when the token needs renewal.
   */
  async invoke(methodParams: MethodParams, deviceId: string, moduleId: string | undefined): Promise<MethodResult> {
    await this.credentials.refresh();
    const waitSeconds = (methodParams.connectTimeoutInSeconds ?? 0) + (methodParams.responseTimeoutInSeconds ?? 30) + 5;
    const identity = this.credentials.identity;
    const args: InvokeMethodOverHttpArgs = {
      gatewayHostname: this.credentials.dialHost,
      deviceId,
      ownDeviceId: identity.deviceId,
      ownModuleId: identity.moduleId,
      userAgent: this.userAgent,
      productInfo: this.options.productInfo,
      sastoken: this.credentials.sastoken,
      methodParams: { ...methodParams },
      timeoutMs: Math.max(this.options.operationTimeout, waitSeconds) * 1000,
    };
    if (moduleId) args.moduleId = moduleId;
    if (this.options.serverVerificationCert) args.ca = this.options.serverVerificationCert;
    if (this.options.cipher) args.cipher = this.options.cipher;
    if (this.options.proxyOptions) args.proxy = this.options.proxyOptions;
    return (await invokeMethodOverHttp(args)) as MethodResult;
  }
}
