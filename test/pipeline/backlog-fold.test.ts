/**
 * A backlog folds to one PATCH per connection with route's 1 s batching window (batches of 50, 10 at
 * once): a chunk mostly lands in one batch, so most connections get exactly one PATCH. The case
 * itself: backlog-fold-case.ts.
 */
import { backlogFoldCase, CONNECTIONS } from './backlog-fold-case.ts';

backlogFoldCase({ batchSize: 50, maxBatchingWindowMs: 1_000, concurrency: 10 }, CONNECTIONS.length / 2);
