/**
 * A backlog folds with route's event source as deployed by default: no batching window, what one
 * receive returns (up to 10), 10 at once. A chunk is split over several invocations, so a customer's
 * first change is often found alone by apply and sent at once (never held back, for latency); what
 * follows still folds into one more PATCH at most. The case itself: backlog-fold-case.ts.
 */
import { backlogFoldCase } from './backlog-fold-case.ts';

backlogFoldCase({ batchSize: 10, maxBatchingWindowMs: 0, concurrency: 10 }, 0);
