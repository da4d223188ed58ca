"""Teams' own Darknet models, stored in S3 beside the results: checked, versioned, listed, removed."""
