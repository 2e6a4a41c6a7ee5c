// The SharedWorker script the cross-tab page's worker mode runs: the connection lives here.
import { startSharedWorkerRelay } from '@arbor/gateway-client';

startSharedWorkerRelay();
