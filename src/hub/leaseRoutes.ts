// The edgeHub routes of a local hub in this process: the hub's own routes plus those each lease adds, applied as one
// set.
import type { RoutedHub } from './types';

interface RouteBook {
  base: Record<string, string>;
  leases: Map<number, Record<string, string>>;
}

const routeBooks = new WeakMap<RoutedHub, RouteBook>();

/** Starts the route book of a hub with its own routes (kept when leases add or remove theirs). */
export function startRouteBook(hub: RoutedHub, routes: Record<string, string>): void {
  routeBooks.set(hub, { base: { ...routes }, leases: new Map() });
}

/**
 * A lease's routes, named `lease<id>_<n>`: the given lines (blank and `#` lines skipped), else the module's outputs
 * upstream.
 */
export function routesFor(moduleId: string, routes: string[] | undefined, leaseId: number): Record<string, string> {
  const lines = (routes ?? []).map((r) => r.trim()).filter((r) => r !== '' && !r.startsWith('#'));
  const chosen = lines.length > 0 ? lines : [`FROM /messages/modules/${moduleId}/* INTO $upstream`];
  const out: Record<string, string> = {};
  chosen.forEach((text, i) => {
    out[`lease${leaseId}_${i + 1}`] = text;
  });
  return out;
}

function applyRoutes(hub: RoutedHub): void {
  const book = routeBooks.get(hub);
  if (!book) return;
  const all: Record<string, string> = { ...book.base };
  for (const routes of book.leases.values()) Object.assign(all, routes);
  hub.setRoutes(all);
}

/** Adds a lease's routes to a hub in this process. @throws RouteSyntaxError (from the hub) for a bad route. */
export function addLeaseRoutes(hub: RoutedHub, leaseId: number, routes: Record<string, string>): void {
  let book = routeBooks.get(hub);
  if (!book) {
    book = { base: {}, leases: new Map() };
    routeBooks.set(hub, book);
  }
  book.leases.set(leaseId, routes);
  try {
    applyRoutes(hub);
  } catch (err) {
    book.leases.delete(leaseId);
    applyRoutes(hub);
    throw err;
  }
}

export function removeLeaseRoutes(hub: RoutedHub, leaseId: number): void {
  const book = routeBooks.get(hub);
  if (book?.leases.delete(leaseId)) applyRoutes(hub);
}
