// Small DOM helpers for the portal: element building without HTML strings (so nothing a cloud
// or a user typed is ever parsed as markup), notices, the confirmation dialog and formatting.
// Not a framework: views build their elements with `h` and replace them whole.

/**
 * Builds an element. `attrs` keys: `class`, `text`, `on<event>` handlers, `dataset`, and
 * any attribute; `false`/`null` values are left out. Children may be strings or nodes.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) {
      continue;
    }
    if (key === 'class') {
      el.className = value;
    } else if (key === 'text') {
      el.textContent = value;
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

/** A notice box: `kind` is `ok`, `error` or `info`. Errors are announced to screen readers. */
export function notice(kind, ...content) {
  return h(
    'div',
    { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    ...content,
  );
}

/** The notice for a failed call: the problem's `detail`, and the cloud's code when given. */
export function errorNotice(error, prefix) {
  const detail = error && error.message ? error.message : String(error);
  const parts = [];
  if (prefix) {
    parts.push(h('strong', { text: `${prefix}: ` }));
  }
  parts.push(detail);
  if (error && error.cloudCode && !detail.includes(error.cloudCode)) {
    parts.push(h('span', { class: 'muted', text: ` (cloud code ${error.cloudCode})` }));
  }
  return notice('error', ...parts);
}

/** A loading line, announced politely. */
export const loading = (text) => h('p', { class: 'loading', role: 'status', text });

/** An empty state. */
export const empty = (text) => h('p', { class: 'empty', text });

/** `aws` → `AWS`, and so on. */
export function providerName(provider) {
  return { aws: 'AWS', azure: 'Azure', gcp: 'Google Cloud' }[provider] || provider;
}

/** A provider badge. */
export const providerBadge = (provider) =>
  h('span', { class: `badge provider-${provider}`, text: providerName(provider) });

/** A state badge. */
export const stateBadge = (state) =>
  h('span', { class: `badge state state-${state}`, dataset: { state }, text: state });

/**
 * A time as the reader's local date and time (with seconds when `precise`); unparseable input
 * is shown as given.
 */
export function formatTime(value, precise = false) {
  const time = new Date(value);
  if (Number.isNaN(time.getTime())) {
    return value || '';
  }
  const timeStyle = precise ? 'medium' : 'short';
  return time.toLocaleString(undefined, { dateStyle: 'medium', timeStyle });
}

/**
 * Asks for confirmation in the page's `<dialog>`. Resolves to true only when the user picks the
 * confirming button; Escape, Cancel and closing all resolve to false. Focus starts on Cancel
 * and returns to where it was.
 */
export function confirmAction({ title, message, confirm }) {
  const dialog = document.getElementById('confirm');
  const before = document.activeElement;
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-message').textContent = message;
  document.getElementById('confirm-ok').textContent = confirm;
  dialog.returnValue = 'cancel';
  return new Promise((resolve) => {
    dialog.addEventListener(
      'close',
      () => {
        if (before && typeof before.focus === 'function' && before.isConnected) {
          before.focus();
        }
        resolve(dialog.returnValue === 'confirm');
      },
      { once: true },
    );
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

/** Copies text, falling back to selecting it where the clipboard is not available. */
export async function copyText(text, selectable) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (selectable) {
      const range = document.createRange();
      range.selectNodeContents(selectable);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    return false;
  }
}
