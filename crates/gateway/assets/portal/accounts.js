// The accounts view: every cloud account the user may use, each with its provider, a "Check
// access" action that shows the cloud identity obtained or the cloud's refusal, and its VMs and
// databases (see resources.js).

import * as api from './api.js';
import { empty, errorNotice, formatTime, h, notice, providerBadge, providerName } from './dom.js';
import { resourcePanel } from './resources.js';

/** Renders the accounts view into `root`. */
export async function accountsView(root, { me, signal }) {
  let list;
  try {
    list = (await api.accounts()).accounts || [];
  } catch (error) {
    if (!signal.aborted) {
      root.replaceChildren(h('h1', { text: 'Cloud accounts' }), errorNotice(error));
    }
    return;
  }
  if (signal.aborted) {
    return;
  }

  const head = h(
    'div',
    { class: 'view-head' },
    h('h1', { text: 'Cloud accounts' }),
    h('p', {
      class: 'muted',
      text: `${list.length} account${list.length === 1 ? '' : 's'} you may use`,
    }),
  );
  if (list.length === 0) {
    const hint = me.tenant_admin
      ? 'No cloud account yet. Add one under “Onboard an account”.'
      : 'No cloud account is open to you yet. Ask your tenant admin to add you to one.';
    root.replaceChildren(head, empty(hint));
    return;
  }
  root.replaceChildren(head, ...list.map((account) => accountCard(account, signal)));
}

function accountCard(account, signal) {
  const id = account.id;
  const result = h('div', { class: 'verify-result', 'aria-live': 'polite' });
  const check = h('button', {
    type: 'button',
    class: 'button',
    text: 'Check access',
    'aria-label': `Check access to ${account.display_name || id}`,
    onclick: () => checkAccess(account, check, result),
  });
  const title = h(
    'div',
    { class: 'title' },
    h('h2', { text: account.display_name || id }),
    h('p', { class: 'muted' }, h('span', { class: 'mono', text: id }), ` · ${account.region}`),
  );
  return h(
    'section',
    {
      class: 'card account',
      dataset: { account: id, provider: account.provider },
      'aria-label': `${providerName(account.provider)} account ${account.display_name || id}`,
    },
    h(
      'div',
      { class: 'account-head' },
      providerBadge(account.provider),
      title,
      h('div', { class: 'account-actions' }, check),
    ),
    result,
    resourcePanel(account, signal),
  );
}

async function checkAccess(account, button, result) {
  button.disabled = true;
  result.replaceChildren(h('p', { class: 'loading', text: 'Asking the cloud…' }));
  try {
    const answer = await api.verify(account.id);
    result.replaceChildren(
      notice(
        'ok',
        h('strong', { text: 'Access works. ' }),
        `${providerName(account.provider)} sees you as `,
        h('span', { class: 'mono cloud-identity', text: answer.cloud_identity }),
        answer.expires_at
          ? `, with credentials valid until ${formatTime(answer.expires_at)}.`
          : '.',
      ),
    );
  } catch (error) {
    const prefix =
      error.code === 'exchange_denied'
        ? `${providerName(account.provider)} refused access`
        : 'Access could not be checked';
    result.replaceChildren(errorNotice(error, prefix));
  } finally {
    button.disabled = false;
  }
}
