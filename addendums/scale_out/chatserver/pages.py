"""Django's pages, served by twisted.web's WSGI container on a thread pool of their own.

Django is a WSGI application: a function that takes a request and returns a page, and may
take its time about it (a database query, hashing a password at login). The reactor must
never wait for it, or every conversation in every room would stop meanwhile. WSGIResource
calls Django in a thread from the pool it is given; the thread hands the page back to the
reactor, which sends it.

The pool is Django's alone, not the reactor's own pool, where deferToThread runs the chat
server's questions about rooms. A crowd of slow pages can keep every page thread busy, and
the chat still finds its rooms.
"""

from twisted.application import service
from twisted.internet import threads
from twisted.python.threadpool import ThreadPool
from twisted.web.wsgi import WSGIResource


class ThreadPoolService(service.Service):
    """Starts the pool with the application, and stops it when twistd stops.

    Stopping a pool waits for its threads to finish what they are doing. That must not
    happen on the reactor thread: a page still being made needs the reactor to send it, and
    would wait for a reactor that is waiting for it. So another thread does the waiting, and
    twistd waits for that (stopService returns a Deferred) before the process exits.
    """

    def __init__(self, pool):
        self.pool = pool

    def startService(self):
        super().startService()
        self.pool.start()

    def stopService(self):
        super().stopService()
        return threads.deferToThread(self.pool.stop)


def django_pages(reactor, page_threads):
    """The Django site as a twisted.web resource, and the service that runs its threads.

    Call it after django.setup(), which get_wsgi_application needs.
    """
    from django.core.wsgi import get_wsgi_application

    pool = ThreadPool(minthreads=1, maxthreads=page_threads, name="django-pages")
    return WSGIResource(reactor, pool, get_wsgi_application()), ThreadPoolService(pool)
