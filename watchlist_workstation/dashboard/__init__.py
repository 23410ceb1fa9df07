"""The results dashboard behind `./cfcli.py serve`: a read-only Flask app over the S3 results dataset.

- data.py reads the dataset (watchlist_workstation.analysis.dataset) and keeps it for a few seconds;
- chart.py draws a company's score history as inline SVG, on the server (no script, no CDN);
- app.py is the Flask app: the pages, the pretty-printed JSON API, and errors as readable pages.

The page works offline: it loads nothing from anywhere but the server that serves it.
"""
