"""Jobs: classify what is already in S3, a whole prefix (:mod:`irs.jobs.run`), or every new object as it lands
(:mod:`irs.jobs.watch`).

A job lists its prefix a page at a time and sends one request per image to the ``jobs`` queue, which the cloud
workers serve after their interactive requests. Its record and its manifest live in the results bucket under
``jobs/NAME/`` (:mod:`irs.jobs.record`), so ``irs job start`` run again after a crash continues from the last
page it recorded. Results stay one document per request where they always are; :mod:`irs.jobs.progress` counts
them, and :mod:`irs.jobs.notices` announces the job's start, end and failure on the events topic.
"""
