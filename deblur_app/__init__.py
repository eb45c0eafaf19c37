"""The Gradio app's pieces: app.py builds the page from them.

Lowest first: common (config, errors for the visitor, output folders), uploads (what a request may
open), lanes (the long-job lane, the stop when a page closes, the measured time left), menus (the
models offered, from deblur.registry), then one module per tab (photo_tab, video_tab,
leaderboards_tab, training_tab) and server_status (the "Models on this server" line). Nothing here
runs at import; only deblur/ is imported, never eval/ (the charts read what the evaluator published).
"""
