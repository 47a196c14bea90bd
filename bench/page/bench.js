// The page the benchmark drives: one button whose click runs what the benchmark put in
// `window.onBenchClick` (a real click, so a popup may open). Nothing else loads until asked.
document.querySelector('#go').addEventListener('click', () => window.onBenchClick?.());
document.body.dataset.ready = 'true';
