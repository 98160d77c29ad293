// NativeHandle.java: the owner of a libloyalty handle for Till and LoyaltyCheckout, as a SafeHandle is in
// .NET: calls acquire and release it, and the handle is freed once, when close was asked (by close() or by
// the Cleaner) and no call is using it any more.
import com.sun.jna.Pointer;
import java.util.function.Consumer;

final class NativeHandle implements Runnable {
  private final String what;
  private final Consumer<Pointer> free;
  private Pointer pointer;
  private Object keepAlive; // e.g. the till's log callback, until the handle is freed
  private int users;
  private boolean closing;

  NativeHandle(String what, Pointer pointer, Consumer<Pointer> free, Object keepAlive) {
    this.what = what;
    this.pointer = pointer;
    this.free = free;
    this.keepAlive = keepAlive;
  }

  synchronized Pointer acquire() {
    if (closing) throw new IllegalStateException("the " + what + " is closed");
    users++;
    return pointer;
  }

  synchronized void release() {
    if (--users == 0 && closing) free();
  }

  /** Close: by close() or, for a handle dropped unclosed, by the Cleaner. */
  @Override
  public synchronized void run() {
    if (closing) return;
    closing = true;
    if (users == 0) free();
  }

  private void free() {
    free.accept(pointer);
    pointer = null;
    keepAlive = null;
  }
}
