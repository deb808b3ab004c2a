// One account's VMs and databases: their states, refreshed every two seconds while any is
// changing; start, stop and delete (stop and delete after confirmation); and the form that
// creates a VM or a database. Resources in state `deleted` are gone and not listed.

import * as api from './api.js';
import {
  confirmAction,
  copyText,
  empty,
  errorNotice,
  h,
  loading,
  notice,
  stateBadge,
} from './dom.js';

const POLL_MS = 2000;
const CHANGING = new Set(['pending', 'stopping', 'deleting']);

/** Example images per cloud, prefilled in the create form; any image reference is accepted. */
const IMAGES = {
  aws: 'ami-0abcdef1234567890',
  azure: 'Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest',
  gcp: 'projects/debian-cloud/global/images/family/debian-12',
};

/** The resources section of an account card; it loads itself and stops when `signal` aborts. */
export function resourcePanel(account, signal) {
  const status = h('div', { class: 'resource-status', 'aria-live': 'polite' });
  const created = h('div', { class: 'created-status', 'aria-live': 'polite' });
  const body = h('div', { class: 'resource-body' }, loading('Loading VMs and databases…'));
  const formSlot = h('div');
  const panel = h(
    'div',
    { class: 'resources', dataset: { account: account.id } },
    h(
      'div',
      { class: 'section-head' },
      h('h3', { text: 'VMs and databases' }),
      h('button', {
        type: 'button',
        class: 'button primary small',
        text: 'New resource',
        'aria-expanded': 'false',
        onclick: (event) => toggleForm(event.currentTarget),
      }),
    ),
    formSlot,
    created,
    status,
    body,
  );

  let timer = null;
  let items = [];
  // The resource whose "Creating…" notice is shown, until it is no longer pending.
  let creating = null;

  const schedule = () => {
    clearTimeout(timer);
    if (!signal.aborted && items.some((r) => CHANGING.has(r.state))) {
      timer = setTimeout(refresh, POLL_MS);
    }
  };
  signal.addEventListener('abort', () => clearTimeout(timer));

  async function refresh() {
    try {
      const answer = await api.resources(account.id);
      if (signal.aborted) {
        return;
      }
      items = (answer.resources || []).filter((r) => r.state !== 'deleted');
      status.replaceChildren();
      render();
    } catch (error) {
      if (signal.aborted) {
        return;
      }
      status.replaceChildren(errorNotice(error, 'Could not list resources'));
      if (!body.querySelector('table')) {
        body.replaceChildren();
      }
    }
    schedule();
  }

  function render() {
    if (creating && !items.some((r) => r.id === creating && r.state === 'pending')) {
      creating = null;
      created.replaceChildren();
    }
    if (items.length === 0) {
      body.replaceChildren(empty('No VMs or databases yet. Use “New resource” to create one.'));
      return;
    }
    const rows = items
      .slice()
      .sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name))
      .map((resource) => row(resource));
    body.replaceChildren(
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
              ['Name', 'Kind', 'State', 'Region', 'Size'].map((t) =>
                h('th', { scope: 'col', text: t }),
              ),
              h('th', { scope: 'col', class: 'actions', text: 'Actions' }),
            ),
          ),
          h('tbody', {}, rows),
        ),
      ),
    );
  }

  function row(resource) {
    const changing = CHANGING.has(resource.state);
    const label = `${resource.kind === 'vm' ? 'VM' : 'database'} ${resource.name}`;
    const button = (text, action, extra = {}) =>
      h('button', {
        type: 'button',
        class: `button small ${extra.class || ''}`.trim(),
        text,
        disabled: changing,
        'aria-label': `${text} ${label}`,
        onclick: () => run(resource, action, label),
      });
    const actions = [];
    if (resource.state === 'stopped') {
      actions.push(button('Start', 'start'));
    }
    if (resource.state === 'running') {
      actions.push(button('Stop', 'stop'));
    }
    actions.push(button('Delete', 'delete'));
    return h(
      'tr',
      { dataset: { resource: resource.id, name: resource.name, state: resource.state } },
      h('td', { 'data-label': 'Name' }, h('strong', { text: resource.name })),
      h('td', { 'data-label': 'Kind', text: resource.kind === 'vm' ? 'VM' : 'Database' }),
      h('td', { 'data-label': 'State' }, stateBadge(resource.state)),
      h('td', { 'data-label': 'Region', text: resource.region }),
      h('td', { 'data-label': 'Size', class: 'mono', text: resource.size }),
      h('td', { class: 'actions' }, actions),
    );
  }

  async function run(resource, action, label) {
    if (action !== 'start') {
      const ok = await confirmAction(
        action === 'stop'
          ? {
              title: `Stop ${label}?`,
              message: `${resource.name} will shut down. You can start it again later.`,
              confirm: 'Stop',
            }
          : {
              title: `Delete ${label}?`,
              message: `${resource.name} and its data will be deleted in the cloud. This cannot be undone.`,
              confirm: 'Delete',
            },
      );
      if (!ok) {
        return;
      }
    }
    try {
      const updated = await api.act(account.id, resource.id, action);
      items = items.map((r) => (r.id === resource.id && updated ? updated : r));
      status.replaceChildren();
      render();
    } catch (error) {
      status.replaceChildren(errorNotice(error, `Could not ${action} ${resource.name}`));
    }
    if (items.some((r) => CHANGING.has(r.state))) {
      schedule();
    } else {
      refresh();
    }
  }

  function toggleForm(toggle) {
    if (formSlot.firstChild) {
      formSlot.replaceChildren();
      toggle.setAttribute('aria-expanded', 'false');
      return;
    }
    toggle.setAttribute('aria-expanded', 'true');
    formSlot.replaceChildren(
      createForm(account, {
        onCreated(resource) {
          formSlot.replaceChildren();
          toggle.setAttribute('aria-expanded', 'false');
          toggle.focus();
          const password = resource.one_time_password;
          delete resource.one_time_password;
          items = items.filter((r) => r.id !== resource.id).concat(resource);
          creating = password ? null : resource.id;
          created.replaceChildren(
            createdNotice(resource, password, () => created.replaceChildren()),
          );
          render();
          schedule();
        },
        onCancel() {
          formSlot.replaceChildren();
          toggle.setAttribute('aria-expanded', 'false');
          toggle.focus();
        },
      }),
    );
    formSlot.querySelector('select, input').focus();
  }

  refresh();
  return panel;
}

/** Says a resource is on its way; a database's one-time password is shown here, once. */
function createdNotice(resource, password, dismiss) {
  if (!password) {
    return notice('ok', `Creating ${resource.name}…`);
  }
  const secret = h('code', { class: 'one-time-secret', text: password });
  return notice(
    'info',
    h('strong', { text: `Creating ${resource.name}. ` }),
    'Its administrator password is ',
    secret,
    ' — copy it now: Credless does not store it and will not show it again. ',
    h('button', {
      type: 'button',
      class: 'button small',
      text: 'Copy password',
      onclick: async (event) => {
        const button = event.currentTarget;
        const copied = await copyText(password, secret);
        button.textContent = copied ? 'Copied' : 'Selected: press Ctrl+C';
      },
    }),
    ' ',
    h('button', {
      type: 'button',
      class: 'button small',
      text: 'I have saved it',
      onclick: dismiss,
    }),
  );
}

/** The create form: kind, name, region, size, and image (VMs) or engine and version (databases). */
function createForm(account, { onCreated, onCancel }) {
  const prefix = `create-${account.id}`;
  const field = (name, label, control, hint) => {
    control.id = `${prefix}-${name}`;
    control.name = name;
    return h(
      'div',
      { class: 'field', dataset: { field: name } },
      h('label', { for: control.id, text: label }),
      control,
      hint ? h('span', { class: 'hint', text: hint }) : null,
    );
  };
  const kind = h(
    'select',
    {},
    h('option', { value: 'vm', text: 'Virtual machine' }),
    h('option', { value: 'database', text: 'Database' }),
  );
  const size = h(
    'select',
    {},
    ['small', 'medium', 'large'].map((s) => h('option', { value: s, text: s })),
  );
  const imageField = field('image', 'Image', h('input', { value: IMAGES[account.provider] || '' }));
  const engine = h(
    'select',
    {},
    h('option', { value: 'postgres', text: 'PostgreSQL' }),
    h('option', { value: 'mysql', text: 'MySQL' }),
  );
  const engineField = field('engine', 'Engine', engine);
  const versionField = field(
    'engine_version',
    'Engine version',
    h('input', { value: '16', placeholder: 'e.g. 16' }),
  );
  engineField.hidden = true;
  versionField.hidden = true;
  kind.addEventListener('change', () => {
    const vm = kind.value === 'vm';
    imageField.hidden = !vm;
    engineField.hidden = vm;
    versionField.hidden = vm;
    versionField.querySelector('input').value = engine.value === 'mysql' ? '8.0' : '16';
  });
  engine.addEventListener('change', () => {
    versionField.querySelector('input').value = engine.value === 'mysql' ? '8.0' : '16';
  });

  const message = h('div', { class: 'form-message', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'button primary', text: 'Create' });
  const form = h(
    'form',
    { class: 'grid create', 'aria-label': `New resource in ${account.id}`, novalidate: true },
    field('kind', 'Kind', kind),
    field(
      'name',
      'Name',
      h('input', {
        required: true,
        autocomplete: 'off',
        placeholder: 'web-1',
        pattern: '[a-z][a-z0-9-]{0,62}',
      }),
      'Lowercase letters, digits and dashes.',
    ),
    field('region', 'Region', h('input', { value: account.region, required: true })),
    field('size', 'Size', size),
    imageField,
    engineField,
    versionField,
    h(
      'div',
      { class: 'form-actions' },
      submit,
      h('button', { type: 'button', class: 'button', text: 'Cancel', onclick: onCancel }),
    ),
    h('div', { class: 'field wide' }, message),
  );
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      onCancel();
    }
  });

  // One key per distinct request: a repeated submit of the same values creates one resource.
  let key = '';
  let sent = '';
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const input of form.querySelectorAll('[aria-invalid]')) {
      input.removeAttribute('aria-invalid');
    }
    const value = (name) => form.elements[name].value.trim();
    const request = {
      kind: value('kind'),
      name: value('name'),
      region: value('region'),
      size: value('size'),
    };
    if (request.kind === 'vm') {
      if (value('image')) {
        request.image = value('image');
      }
    } else {
      request.engine = value('engine');
      if (value('engine_version')) {
        request.engine_version = value('engine_version');
      }
    }
    if (JSON.stringify(request) !== sent) {
      sent = JSON.stringify(request);
      key = api.idempotencyKey();
    }
    submit.disabled = true;
    message.replaceChildren(h('p', { class: 'loading', text: 'Creating…' }));
    try {
      const resource = await api.createResource(account.id, request, key);
      onCreated(resource);
    } catch (error) {
      message.replaceChildren(errorNotice(error, 'Not created'));
      const bad = error.field && form.elements[error.field];
      if (bad) {
        bad.setAttribute('aria-invalid', 'true');
        bad.focus();
      }
      submit.disabled = false;
    }
  });
  return form;
}
