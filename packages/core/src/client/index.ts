export {
  DaemonClient,
  type LeaseCredential,
  type RemoteExecuteOptions,
  type RemoteResult,
  type LeaseRequestOptions,
} from './daemon-client.js';
export { parseVia, isLoopbackHost, defaultDaemonSocket, describeEndpoint, type DaemonEndpoint } from './endpoint.js';
export {
  RemoteTransport,
  openRemoteDevice,
  type RemoteTransportOptions,
  type OpenRemoteDeviceOptions,
} from './remote-transport.js';
