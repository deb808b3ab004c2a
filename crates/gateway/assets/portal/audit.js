// The audit log view, for tenant admins: the latest events, newest first, each with who did
// what to which account or resource and how it ended. Read-only.

import * as api from './api.js';
import { empty, errorNotice, formatTime, h, loading } from './dom.js';

/** Renders the audit log, newest first. */
export async function auditView(root, { signal }) {
  const body = h('div', {}, loading('Loading the audit log…'));
  const refresh = h('button', {
    type: 'button',
    class: 'button',
    text: 'Refresh',
    onclick: () => load(),
  });
  root.replaceChildren(
    h('div', { class: 'view-head' }, h('h1', { text: 'Audit log' }), refresh),
    h('section', { class: 'card' }, body),
  );

  async function load() {
    refresh.disabled = true;
    try {
      const events = (await api.audit(200)).events || [];
      if (signal.aborted) {
        return;
      }
      if (events.length === 0) {
        body.replaceChildren(empty('Nothing recorded yet.'));
        return;
      }
      body.replaceChildren(
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'audit' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Time', 'Who', 'Action', 'Account', 'Resource', 'Outcome'].map((t) =>
                  h('th', { scope: 'col', text: t }),
                ),
              ),
            ),
            h('tbody', {}, events.map(eventRow)),
          ),
        ),
      );
    } catch (error) {
      body.replaceChildren(errorNotice(error));
    } finally {
      refresh.disabled = false;
    }
  }
  load();
}

function eventRow(event) {
  const ok = event.outcome === 'ok' || event.outcome === 'success';
  return h(
    'tr',
    {},
    h('td', { 'data-label': 'Time', text: formatTime(event.time, true) }),
    h('td', { 'data-label': 'Who', text: event.email || event.subject || '' }),
    h('td', { 'data-label': 'Action', class: 'mono', text: event.action || '' }),
    h('td', { 'data-label': 'Account', text: event.account || '' }),
    h('td', { 'data-label': 'Resource', class: 'mono', text: event.resource || '' }),
    h(
      'td',
      { 'data-label': 'Outcome' },
      h('span', {
        class: `badge ${ok ? 'state-running' : 'state-error'}`,
        text: event.outcome || '',
      }),
      event.detail ? h('div', { class: 'muted', text: event.detail }) : null,
    ),
  );
}
