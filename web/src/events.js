// events: the event log, followed by long-polling GET /v1/events (see
// docs/console.md for why not Server-Sent Events). A page reads head()
// first, then the state it shows, then follows from that number: nothing
// that changes in between is missed.

import {get} from './api.js';

// The number of the newest event: a name no resource has matches nothing,
// and last_seq then passes every event there is.
export async function head() {
  const r = await get('/v1/events?after=0&limit=1&name=-');
  return r.last_seq;
}

// Calls onEvents(batch) with every event after `after`, until stop().
export function follow(after, onEvents, {name, kind} = {}) {
  let stopped = false;
  (async () => {
    let backoff = 500;
    while (!stopped) {
      try {
        const filter = (name ? `&name=${encodeURIComponent(name)}` : '') + (kind ? `&kind=${kind}` : '');
        const r = await get(`/v1/events?after=${after}&wait=25&limit=1000${filter}`);
        after = r.last_seq;
        backoff = 500;
        if (!stopped && r.events.length) onEvents(r.events);
      } catch (e) {
        if (e.status === 401) return;
        await new Promise((res) => setTimeout(res, backoff));
        backoff = Math.min(backoff * 2, 10000);
      }
    }
  })();
  return {stop() { stopped = true; }};
}
