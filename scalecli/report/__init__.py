"""The report stage: results.csv + fit.json + runs/ -> report.html, report.md, PNGs.

`data` reads the inputs once; `plots` draws the figures in the look of `style`; `samples`
generates text from each size's saved weights; `document` lays out the content, which
`html_page`, `markdown_page` and `terminal` render. Nothing here imports the sweep stage.
"""
