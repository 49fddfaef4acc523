/**
 * The two pieces of undici the Nango client uses: the Agent (keep-alive pools per origin) and the
 * request API. undici's index module builds everything it exports when it loads (fetch, WebSocket,
 * mocks, caches, interceptors, proxy agents) and then copies the request API onto every
 * dispatcher; importing these two modules instead loads only the HTTP/1.1 client path, which is
 * most of a function's cold start otherwise. `request(dispatcher, opts)` works on any dispatcher
 * (a test's MockAgent too), since the API only calls `dispatch`.
 */
import type { Dispatcher } from 'undici';
import UndiciAgent from 'undici/lib/dispatcher/agent.js';
import requestApi from 'undici/lib/api/api-request.js';

export const Agent = UndiciAgent;
export type { Dispatcher };

export function request(dispatcher: Dispatcher, opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
  return requestApi.call(dispatcher, opts);
}
