"""The browser's screens: chains, one chain, one event, the diff, and small dialogs."""
