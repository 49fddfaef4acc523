/**
 * Event-time order, shared by route (a batch goes out in the order events happened) and apply's
 * ordering guard. Times are ISO-8601 UTC strings (normalised at parse), so they compare as text;
 * Array.prototype.sort is stable, so equal times keep arrival order.
 */
export function inEventTimeOrder<T extends { event: { time: string } }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => a.event.time.localeCompare(b.event.time));
}
