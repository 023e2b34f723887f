"""Writing what the user sees: masks, CSV rows and the PDF report (Qt-free helpers)."""
