// The onboarding view, for tenant admins: add or replace a cloud account, show the trust setup
// to copy into the cloud, and list or remove the tenant's accounts. The API refuses these calls
// to anyone else; the tab is only hidden for convenience.

import * as api from './api.js';
import {
  confirmAction,
  copyText,
  empty,
  errorNotice,
  h,
  loading,
  notice,
  providerBadge,
} from './dom.js';

/** Per provider: the fields an account needs besides id, name, region and groups. */
const FIELDS = {
  aws: [['role_arn', 'Role ARN', 'arn:aws:iam::123456789012:role/credless']],
  azure: [
    ['tenant_id', 'Directory (tenant) ID', '00000000-0000-0000-0000-000000000000'],
    ['client_id', 'Application (client) ID', '00000000-0000-0000-0000-000000000000'],
    ['subscription_id', 'Subscription ID', '00000000-0000-0000-0000-000000000000'],
    ['resource_group', 'Resource group', 'credless'],
  ],
  gcp: [
    ['project_id', 'Project ID', 'acme-data'],
    ['project_number', 'Project number', '123456789012'],
    ['pool_id', 'Workload identity pool ID', 'credless'],
    ['provider_id', 'Pool provider ID', 'acme-idp'],
    ['service_account', 'Service account', 'credless@acme-data.iam.gserviceaccount.com'],
  ],
};

const REGIONS = { aws: 'us-east-1', azure: 'westeurope', gcp: 'europe-west1' };

/** Renders the onboarding view: the form, then the tenant's accounts with their trust setup. */
export async function onboardView(root, { signal }) {
  const trustSlot = h('div', { id: 'trust' });
  const listSlot = h('div', {}, loading('Loading accounts…'));
  root.replaceChildren(
    h('h1', { text: 'Onboard an account' }),
    h('p', {
      class: 'muted',
      text:
        'Add or replace a cloud account of this tenant. Credless stores no cloud secret: ' +
        'after saving, copy the trust setup shown below into the cloud.',
    }),
    h(
      'section',
      { class: 'card' },
      accountForm(trustSlot, () => loadList()),
    ),
    trustSlot,
    h('section', { class: 'card' }, h('h2', { text: 'Accounts of this tenant' }), listSlot),
  );

  async function loadList() {
    try {
      const list = (await api.accounts()).accounts || [];
      if (signal.aborted) {
        return;
      }
      if (list.length === 0) {
        listSlot.replaceChildren(empty('No account yet.'));
        return;
      }
      listSlot.replaceChildren(
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            {},
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Account', 'Cloud', 'Region', ''].map((t) => h('th', { text: t })),
              ),
            ),
            h(
              'tbody',
              {},
              list.map((account) => accountRow(account)),
            ),
          ),
        ),
      );
    } catch (error) {
      listSlot.replaceChildren(errorNotice(error));
    }
  }

  function accountRow(account) {
    return h(
      'tr',
      { dataset: { account: account.id } },
      h(
        'td',
        { 'data-label': 'Account' },
        h('strong', { text: account.display_name || account.id }),
        h('div', { class: 'mono muted', text: account.id }),
      ),
      h('td', { 'data-label': 'Cloud' }, providerBadge(account.provider)),
      h('td', { 'data-label': 'Region', text: account.region }),
      h(
        'td',
        { class: 'actions' },
        h('button', {
          type: 'button',
          class: 'button small',
          text: 'Trust setup',
          'aria-label': `Trust setup of ${account.id}`,
          onclick: () => showTrust(trustSlot, account.id),
        }),
        h('button', {
          type: 'button',
          class: 'button small',
          text: 'Remove',
          'aria-label': `Remove ${account.id}`,
          onclick: () => removeAccount(account, listSlot, loadList),
        }),
      ),
    );
  }

  loadList();
}

async function removeAccount(account, listSlot, reload) {
  const ok = await confirmAction({
    title: `Remove ${account.id}?`,
    message:
      'Its users lose access through Credless. Nothing is deleted in the cloud, and the ' +
      'trust set up there stays until you remove it.',
    confirm: 'Remove',
  });
  if (!ok) {
    return;
  }
  try {
    await api.call('DELETE', `/api/v1/accounts/${encodeURIComponent(account.id)}`);
    reload();
  } catch (error) {
    listSlot.prepend(errorNotice(error, `Could not remove ${account.id}`));
  }
}

function accountForm(trustSlot, saved) {
  const field = (name, label, control, hint) => {
    control.id = `onboard-${name}`;
    control.name = name;
    return h(
      'div',
      { class: 'field', dataset: { field: name } },
      h('label', { for: control.id, text: label }),
      control,
      hint ? h('span', { class: 'hint', text: hint }) : null,
    );
  };
  const provider = h(
    'select',
    {},
    h('option', { value: 'aws', text: 'AWS' }),
    h('option', { value: 'azure', text: 'Azure' }),
    h('option', { value: 'gcp', text: 'Google Cloud' }),
  );
  const region = h('input', { value: REGIONS.aws, required: true });
  const specific = h('div', { class: 'field wide' });
  const message = h('div', { 'aria-live': 'polite' });
  const renderSpecific = () => {
    specific.replaceChildren(
      h(
        'div',
        { class: 'grid-inner' },
        FIELDS[provider.value].map(([name, label, example]) =>
          field(
            name,
            label,
            h('input', { required: true, placeholder: example, autocomplete: 'off' }),
          ),
        ),
      ),
    );
    region.value = REGIONS[provider.value];
  };
  provider.addEventListener('change', renderSpecific);
  renderSpecific();

  const form = h(
    'form',
    { class: 'grid', 'aria-label': 'Onboard an account', novalidate: true },
    field('provider', 'Cloud', provider),
    field(
      'id',
      'Account ID',
      h('input', { required: true, placeholder: 'prod-aws', autocomplete: 'off' }),
      'Used in URLs; lowercase, digits, dashes.',
    ),
    field('display_name', 'Display name', h('input', { placeholder: 'Production' })),
    field('region', 'Default region', region),
    field(
      'allowed_groups',
      'Allowed groups',
      h('input', { placeholder: 'platform, data' }),
      'Comma-separated; empty lets every user of the tenant in.',
    ),
    specific,
    h(
      'div',
      { class: 'form-actions' },
      h('button', { type: 'submit', class: 'button primary', text: 'Save account' }),
    ),
    h('div', { class: 'field wide' }, message),
  );
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = (name) => (form.elements[name] ? form.elements[name].value.trim() : '');
    const id = value('id');
    if (!id) {
      message.replaceChildren(notice('error', 'Give the account an ID.'));
      form.elements.id.focus();
      return;
    }
    const body = { provider: provider.value, region: value('region') };
    if (value('display_name')) {
      body.display_name = value('display_name');
    }
    const groups = value('allowed_groups')
      .split(',')
      .map((g) => g.trim())
      .filter(Boolean);
    if (groups.length) {
      body.allowed_groups = groups;
    }
    for (const [name] of FIELDS[provider.value]) {
      body[name] = value(name);
    }
    message.replaceChildren(h('p', { class: 'loading', text: 'Saving…' }));
    try {
      await api.putAccount(id, body);
      message.replaceChildren(
        notice('ok', `Saved ${id}. Set up the trust shown below in the cloud.`),
      );
      saved();
      showTrust(trustSlot, id);
    } catch (error) {
      message.replaceChildren(errorNotice(error, 'Not saved'));
    }
  });
  return form;
}

/** Loads and shows the trust setup of one account, with copy buttons. */
async function showTrust(slot, id) {
  slot.replaceChildren(
    h('section', { class: 'card' }, loading(`Loading the trust setup of ${id}…`)),
  );
  let guidance;
  try {
    guidance = await api.trust(id);
  } catch (error) {
    slot.replaceChildren(
      h('section', { class: 'card' }, errorNotice(error, 'Trust setup unavailable')),
    );
    return;
  }
  const details = guidance[guidance.provider] || {};
  const blocks = [];
  for (const [key, value] of Object.entries(details)) {
    if (key === 'notes') {
      continue;
    }
    const label = labelOf(key);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
      blocks.push(copyBlock(label, value.join('\n\n')));
    } else if (typeof value === 'string') {
      blocks.push(copyBlock(label, value));
    } else {
      blocks.push(copyBlock(label, JSON.stringify(value, null, 2)));
    }
  }
  const notes = Array.isArray(details.notes) ? details.notes : [];
  const card = h(
    'section',
    { class: 'card trust', tabindex: '-1', 'aria-label': `Trust setup of ${id}` },
    h(
      'div',
      { class: 'account-head' },
      providerBadge(guidance.provider),
      h('h2', { class: 'title', text: `Trust setup of ${id}` }),
    ),
    h('p', {
      class: 'muted',
      text: 'Configure this in the cloud so that it trusts your identity provider. Nothing here is secret.',
    }),
    notes.length
      ? h(
          'ul',
          { class: 'notes' },
          notes.map((n) => h('li', { text: n })),
        )
      : null,
    blocks,
  );
  slot.replaceChildren(card);
  card.focus();
}

/** `oidc_provider_arn` → `OIDC provider ARN`. */
function labelOf(key) {
  const upper = new Set(['oidc', 'arn', 'id', 'iam', 'cli', 'url', 'cel']);
  const words = key.split('_').map((w) => (upper.has(w) ? w.toUpperCase() : w));
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function copyBlock(label, text) {
  const pre = h('pre', { text });
  const button = h('button', {
    type: 'button',
    class: 'button small',
    text: 'Copy',
    'aria-label': `Copy ${label}`,
    onclick: async () => {
      const copied = await copyText(text, pre);
      button.textContent = copied ? 'Copied' : 'Selected: press Ctrl+C';
    },
  });
  return h(
    'div',
    { class: 'copy-block' },
    h('div', { class: 'section-head' }, h('h3', { text: label }), button),
    pre,
  );
}
