"""What people read: the summary, the live view, the HTML report with its timeline,
``--roadmap-status``, and secrets kept out of all of them."""
