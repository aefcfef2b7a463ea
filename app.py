"""GTE similarity workbench — the Hugging Face Spaces entry; everything lives in :mod:`gte_ui`.

    python app.py --model ./models/gte-large-zh        # see --help for every option
"""

import sys

from gte_ui.launch import main

if __name__ == "__main__":
    sys.exit(main())
