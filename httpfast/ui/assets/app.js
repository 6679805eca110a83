// The UI's entry point: a router over the page modules, the theme switch,
// and the first-render mark the browser tests measure.

import { queryPage } from './query.js';
import { explorePage } from './explore.js';
import { cardinalityPage } from './cardinality.js';
import { statusPage } from './status.js';

const pages = { '/query': queryPage, '/explore': explorePage, '/cardinality': cardinalityPage, '/status': statusPage };
const main = document.getElementById('main');
let cleanup = null;

function render() {
  const page = pages[location.pathname] || queryPage;
  if (cleanup) cleanup();
  main.replaceChildren();
  document.title = 'Silverback · ' + (location.pathname.slice(1) || 'query');
  for (const a of document.querySelectorAll('header nav a')) {
    a.classList.toggle('on', a.getAttribute('href') === location.pathname);
  }
  cleanup = page(main) || null;
}

// Same-origin links to UI pages navigate without a reload.
document.addEventListener('click', (e) => {
  const a = e.target.closest('a');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin || !pages[u.pathname]) return;
  e.preventDefault();
  history.pushState(null, '', u.pathname + u.search);
  render();
});
window.addEventListener('popstate', render);

// Theme: follow the system unless the user picked light or dark.
const themes = ['auto', 'light', 'dark'];
const themeBtn = document.getElementById('theme');
function applyTheme(t) {
  if (t === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
  themeBtn.textContent = { auto: '◐ auto', light: '☀ light', dark: '☾ dark' }[t];
  themeBtn.title = t === 'auto' ? 'Theme: follows the system' : `Theme: ${t}`;
}
let theme = localStorage.getItem('sb-theme') || 'auto';
if (!themes.includes(theme)) theme = 'auto';
applyTheme(theme);
themeBtn.addEventListener('click', () => {
  theme = themes[(themes.indexOf(theme) + 1) % themes.length];
  localStorage.setItem('sb-theme', theme);
  applyTheme(theme);
  render();
});

render();
performance.mark('sb-first-render');
document.documentElement.dataset.ready = '1';
