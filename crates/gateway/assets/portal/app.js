// The portal's entry point: who is signed in, the section tabs, and which view is shown.
// Views live in their own modules and render into `#view`; switching sections stops the
// previous view's polling through the `signal` it was given.

import * as api from './api.js';
import { accountsView } from './accounts.js';
import { onboardView } from './admin.js';
import { auditView } from './audit.js';
import { errorNotice, h, loading } from './dom.js';

const views = {
  accounts: accountsView,
  onboard: onboardView,
  audit: auditView,
};

let me = null;
let current = null;

/** The section named by the location hash, `#/accounts` by default. */
function sectionFromHash() {
  const name = window.location.hash.replace(/^#\/?/, '').split('/')[0];
  if (name in views && (name === 'accounts' || (me && me.tenant_admin))) {
    return name;
  }
  return 'accounts';
}

function renderWho() {
  const who = document.getElementById('who');
  const name = me.email || me.preferred_username || me.subject;
  who.replaceChildren(
    h('span', { class: 'muted', text: 'Signed in as ' }),
    h('strong', { id: 'who-name', text: name }),
    h('span', { class: 'muted', text: ' · tenant ' }),
    h('strong', { id: 'who-tenant', text: me.tenant }),
    me.tenant_admin ? h('span', { class: 'muted', text: ' · admin' }) : null,
  );
}

function show() {
  const section = sectionFromHash();
  for (const link of document.querySelectorAll('#tabs a')) {
    if (link.dataset.view === section) {
      link.setAttribute('aria-current', 'page');
    } else {
      link.removeAttribute('aria-current');
    }
  }
  if (current) {
    current.abort();
  }
  current = new AbortController();
  const view = document.getElementById('view');
  view.replaceChildren(loading('Loading…'));
  views[section](view, { me, signal: current.signal });
}

async function start() {
  const view = document.getElementById('view');
  try {
    me = await api.me();
  } catch (error) {
    if (error.code === 'login_required') {
      view.replaceChildren(loading('Taking you to sign-in…'));
      return;
    }
    document.getElementById('who').replaceChildren();
    view.replaceChildren(
      h('h1', { text: 'Credless could not load your session' }),
      errorNotice(error),
      h('p', {}, h('a', { href: '/', class: 'button', text: 'Try again' })),
    );
    return;
  }
  document.title = `Credless · ${me.tenant}`;
  renderWho();
  document.getElementById('tabs').hidden = false;
  for (const link of document.querySelectorAll('#tabs a[data-admin]')) {
    link.hidden = !me.tenant_admin;
  }
  window.addEventListener('hashchange', show);
  show();
}

start();
