"""Launch the Alignment Studio GUI: `python main.py [--project DIR] [--model M] [--device D] [--annotator NAME]`."""
import sys

from studio.ui.app import run_app

if __name__ == "__main__":
    sys.exit(run_app(sys.argv[1:]))
