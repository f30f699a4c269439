// Tells a headless browser (the tests) that every figure and thumbnail decoded.
window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.dataset.imagesLoaded =
    String(imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0));
});
// Filters the rows of each comparison of flipped pairs by its selects, preset from the
// address (index.html?group=drugs&variant=image); the page works without it.
for (const section of document.querySelectorAll('section.flips')) {
  const selects = [...section.querySelectorAll('select[data-filter]')];
  const rows = [...section.querySelectorAll('tr[data-group]')];
  const count = section.querySelector('.count');
  if (!count) continue;  // a comparison with no flipped pair has nothing to filter
  const apply = () => {
    let shown = 0;
    for (const row of rows) {
      const ok = selects.every(s => !s.value || row.dataset[s.dataset.filter] === s.value);
      row.hidden = !ok;
      shown += ok;
    }
    count.textContent = `${shown} of ${rows.length} rows shown`;
  };
  const preset = new URLSearchParams(location.search);  // e.g. ?group=drugs&variant=image
  for (const s of selects) {
    if (preset.has(s.dataset.filter)) s.value = preset.get(s.dataset.filter);
    s.addEventListener('change', apply);
  }
  apply();
}
