// The Storage every endpoint and command uses, once for every backend: batches applied through the
// ingest and the ledger, the changes feed, the daily work, the operators' reports, each inside one
// transaction of the storage port.
#include "ledger_storage.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "ingest.hpp"
#include "ledger.hpp"
#include "loyalty/engine/json_reader.hpp"
#include "loyalty/till/member_code.hpp"

namespace loyalty::hq::detail {
namespace {

constexpr std::int64_t kSlice = 20'000;  // members or lots per transaction of the daily work

std::int64_t wall_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Coupon codes: unambiguous letters and digits (no 0/O, 1/I), from OpenSSL's generator.
std::string random_code(std::size_t n) {
  static const char alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";  // 32 symbols
  std::vector<unsigned char> bytes(n);
  if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) throw std::runtime_error("no randomness for a coupon code");
  std::string out(n, '2');
  for (std::size_t i = 0; i < n; ++i) out[i] = alphabet[bytes[i] & 31];
  return out;
}

class LedgerStorage final : public Storage {
 public:
  LedgerStorage(std::unique_ptr<Backend> backend, const EnrollmentOpener& opener, LedgerPolicy policy)
      : backend_(std::move(backend)), opener_(opener), policy_(policy) {
    check_generation();
  }

  // Every database has a generation; one whose feed ends before the mark beside it was put back from
  // a backup, and takes a new one.
  void check_generation() {
    const auto mark = backend_->feed_mark();
    backend_->write([&](Tx& tx) {
      const std::string g = tx.meta_text("generation").value_or("");
      const std::int64_t seq = tx.feed_end();
      if (g.empty()) {
        roll_generation(tx, "a new database", false);
      } else if (mark && mark->first == g && mark->second > seq) {
        roll_generation(tx, "the database's changes feed ends at " + std::to_string(seq) + ", before " +
                                std::to_string(mark->second) + " where it was: restored from a backup");
      }
    });
  }

  BatchOutcome apply_batch(std::string_view store_id, const protocol::Batch& batch, const std::vector<Txn>& txns,
                           std::int64_t now_us) override {
    std::string batch_digest_input = batch.till_id;
    for (const Txn& t : txns) (batch_digest_input += '\n') += t.digest;
    const std::string digest = sha256_hex(batch_digest_input);
    BatchOutcome out;
    backend_->write([&](Tx& tx) {
      out = BatchOutcome{};
      // One batch of a till at a time, whichever instance it reached: the same batch delivered twice
      // is applied once and answered again from its record.
      tx.lock("batch " + std::string(store_id) + "/" + batch.till_id);
      if (const auto seen = tx.find_batch(store_id, batch.batch_id)) {
        if (seen->first != digest)
          throw RequestError(409, "batch_conflict", "batch_id " + batch.batch_id + " was used before for other transactions");
        out.body = seen->second;
        out.replayed = true;
        return;
      }
      Ledger ledger(tx, rules_);
      Ingest ingest(tx, ledger, opener_, policy_, now_us);
      ingest.prefetch(txns);
      protocol::BatchAnswer answer;
      answer.results.reserve(txns.size());
      std::int64_t newest_at = INT64_MIN;
      std::int64_t fresh = 0;
      for (const Txn& t : txns) {
        protocol::TxnResult r;
        r.txn_id = t.txn_id;
        const Ingest::Outcome o = ingest.receive(t, r);
        if (o == Ingest::Outcome::fresh) {
          ++fresh;
          if (t.invalid.empty()) newest_at = std::max(newest_at, t.at.utc_micros);
        }
        if (o == Ingest::Outcome::answered || r.status == protocol::TxnStatus::duplicate) ++out.duplicates;
        else if (r.status == protocol::TxnStatus::rejected) ++out.rejected;
        else {
          ++out.applied;
          if (t.kind == TxnKind::sale) ++out.sales_applied;
        }
        answer.results.push_back(std::move(r));
      }
      out.body = protocol::batch_answer_json(answer);
      tx.insert_batch(store_id, batch.batch_id, digest, out.body, now_us);
      StoreSync s;
      s.store_id = std::string(store_id);
      s.till_id = batch.till_id;
      s.at_us = now_us;
      s.txns = fresh;
      s.newest_lag_us = newest_at != INT64_MIN ? now_us - newest_at : 0;
      s.queued = batch.queued;
      if (batch.sent_at) s.sent_at_us = batch.sent_at->utc_micros;
      tx.note_sync(s);
    });
    return out;
  }

  std::string generation() override {
    std::string g;
    backend_->read([&](Tx& tx) { g = tx.meta_text("generation").value_or(""); });
    return g;
  }

  std::string new_generation(std::string_view why) override {
    std::string g;
    backend_->write([&](Tx& tx) { g = roll_generation(tx, why); });
    return g;
  }

  std::string changes(std::int64_t after, std::int64_t limit, const std::optional<std::string>& generation,
                      const TillView& seen) override {
    std::string current;
    protocol::ChangesDocument doc;
    // The page, from the transaction that checked the till's view: one read transaction per page.
    const auto page = [&](Tx& tx) {
      doc = protocol::ChangesDocument{};
      // Member records go out whatever the rules: only their next_tier needs them.
      Ledger ledger(tx, rules_);
      std::shared_ptr<const engine::RuleSet> rules;
      try {
        ledger.refresh();
        rules = ledger.current_rules();
      } catch (const UnloadableRules&) {
      }
      std::vector<FeedMember> members = tx.changed_members(after, limit + 1);
      std::vector<FeedCoupon> coupons = tx.changed_coupons(after, limit + 1);
      doc.next = after;
      std::size_t mi = 0, ci = 0;
      while (static_cast<std::int64_t>(doc.members.size() + doc.coupons.size()) < limit &&
             (mi < members.size() || ci < coupons.size())) {
        if (ci >= coupons.size() || (mi < members.size() && members[mi].seq < coupons[ci].seq)) {
          FeedMember& m = members[mi++];
          doc.next = m.seq;
          // Within what tills accept, whatever the database holds.
          m.record.member.points = std::clamp(m.record.member.points, -engine::kMaxPoints, engine::kMaxPoints);
          if (rules) m.record.member.next_tier = next_tier(*rules, m.record.member.tier, m.spend_minor);
          doc.members.push_back(std::move(m.record));
        } else {
          FeedCoupon& c = coupons[ci++];
          doc.next = c.seq;
          protocol::CouponRecord rec;
          rec.version = c.version;
          rec.member_id = c.member_id;
          auto def = engine::detail::parse_json(c.definition, "coupon");
          engine::detail::ObjectReader r(def, "coupon");
          rec.coupon = engine::detail::read_coupon_fields(r, c.code);
          rec.coupon.used = c.used;
          doc.coupons.push_back(std::move(rec));
        }
      }
      doc.more = mi < members.size() || ci < coupons.size();
      std::vector<std::string> ids;
      ids.reserve(doc.members.size());
      for (const protocol::MemberRecord& rec : doc.members) ids.push_back(rec.member.id);
      auto expiries = tx.next_expiry(ids);
      auto codes = tx.codes_of(ids);
      for (std::size_t i = 0; i < doc.members.size(); ++i) {
        protocol::MemberRecord& rec = doc.members[i];
        if (const auto& next = expiries[i])
          rec.member.next_expiry = engine::PointsExpiry{std::clamp<std::int64_t>(next->second, 0, engine::kMaxPoints),
                                                        engine::Instant{next->first, rules ? rules->utc_offset_minutes : 0}};
        rec.codes = std::move(codes[i]);
      }
    };
    std::string why;
    backend_->read([&](Tx& tx) {
      why.clear();
      if (generation) {
        // What the till saw in this generation (or before it had one) that this database does not
        // hold: the database went back since. A cursor alone proves nothing for a till of no
        // generation yet (new, or seeded from a file): past the feed's end, it starts over.
        current = tx.meta_text("generation").value_or("");
        const std::int64_t end = tx.feed_end();
        if (generation->empty() && after > end) after = 0;
        if (generation->empty() || *generation == current) {
          if (after > end) {
            why = "a till's cursor " + std::to_string(after) + " is past the feed's end " + std::to_string(end);
          } else if (seen.applied && !tx.find_txn(*seen.applied)) {
            why = "a till had transaction " + *seen.applied + " applied, which this database does not hold";
          } else if (seen.member) {
            const std::int64_t have = tx.member_version(seen.member->first);
            if (have < seen.member->second)
              why = "a till holds member " + seen.member->first + " at version " + std::to_string(seen.member->second) +
                    ", this database at " + std::to_string(have);
          }
        }
        if (!why.empty()) return;
        if (!generation->empty() && *generation != current) after = 0;  // another generation's cursor means nothing here
      }
      page(tx);
    });
    if (!why.empty()) {
      // A store's till is authenticated; what it says costs, at worst, a download of the feed again,
      // and the flag names the store.
      current = new_generation(why + (seen.store_id.empty() ? "" : " (store " + seen.store_id + ")"));
      after = 0;
      backend_->read(page);
    }
    if (generation) doc.generation = current;
    return protocol::changes_to_json(doc);
  }

  std::optional<RulesRecord> current_rules() override { return reading([&](Tx& tx) { return tx.current_rules(); }); }

  bool publish_rules(const RulesRecord& rules, std::int64_t now_us) override {
    bool added = false;
    backend_->write([&](Tx& tx) {
      added = false;
      if (const auto json = tx.rules_json(rules.version)) {
        if (*json != rules.json)
          throw std::runtime_error("rules version " + rules.version +
                                   " was published before with other content: give this rule set a new version");
        return;
      }
      tx.insert_rules(rules, now_us);
      added = true;
    });
    return added;
  }

  ImportReport import_members(const std::vector<ImportedMember>& rows, std::int64_t now_us) override {
    ImportReport report;
    backend_->write([&](Tx& tx) {
      report = ImportReport{};
      Ledger ledger(tx, rules_);
      ledger.refresh();
      const auto rules = ledger.current_rules();
      const std::int64_t expires =
          expiry_after(now_us, rules ? rules->expiry_months : 24, rules ? rules->utc_offset_minutes : 0);
      for (const ImportedMember& m : rows) {
        const std::string masked = till::mask_name(m.name);
        const std::optional<std::string> phone = m.phone.empty() ? std::nullopt : std::optional<std::string>(m.phone);
        if (tx.member_exists(m.id)) {
          tx.update_member(m.id, m.name, phone, masked, m.birthday);
          tx.drop_codes(m.id);
          const std::string old_tier = tx.member_tier(m.id);
          if (old_tier != m.tier) {
            tx.set_imported_tier(m.id, m.tier);
            ledger.record_tier(m.id, now_us, old_tier, m.tier, 0, "import");
          }
          ++report.updated;
        } else {
          tx.insert_member(NewMember{m.id, m.name, phone, masked, m.tier, m.birthday, now_us});
          ledger.record_tier(m.id, now_us, "", m.tier, 0, "import");
          ++report.added;
        }
        // History from the old system never undoes what headquarters has seen since.
        tx.raise_history(m.id, m.purchases, m.last_purchase_at);
        // The imported balance through the ledger: an increase is a lot earned now, a decrease takes
        // the oldest lots first.
        auto state = ledger.load(m.id);
        const std::int64_t delta = m.points - state->points;
        if (delta > 0) ledger.credit(*state, delta, now_us, expires, std::nullopt);
        else ledger.debit(*state, -delta);
        ledger.save(*state);
        const auto add_code = [&](const std::string& code, const char* kind) {
          if (code.empty()) return;
          const protocol::CodeHash h = opener_.hash(code);
          if (const auto owner = tx.member_by_code(h))
            throw std::runtime_error("member " + m.id + ": its " + kind + " is already member " + *owner + "'s");
          tx.insert_code(h, m.id, kind);
        };
        add_code(m.phone, "phone");
        add_code(m.card, "card");
      }
    });
    return report;
  }

  std::vector<MemberRow> members(std::int64_t limit) override {
    std::vector<MemberRow> out;
    backend_->read([&](Tx& tx) {
      out.clear();
      for (const auto& id : tx.member_ids(limit))
        if (auto m = tx.member_row(id)) out.push_back(std::move(*m));
    });
    return out;
  }

  std::optional<MemberRow> member(std::string_view id) override {
    return reading([&](Tx& tx) { return tx.member_row(id); });
  }

  std::vector<StoreRow> stores() override { return reading([&](Tx& tx) { return tx.stores(); }); }

  std::vector<SaleRecord> sales_by_receipt(std::string_view store_id, std::string_view receipt_id) override {
    return reading([&](Tx& tx) { return tx.sales_by_receipt(store_id, receipt_id); });
  }

  ExpiryReport expire(std::int64_t now_us) override {
    ExpiryReport report;
    for (bool more = true; more;) {
      ExpiryReport slice;
      backend_->write([&](Tx& tx) {
        slice = ExpiryReport{};
        tx.lock("expiry");
        Ledger ledger(tx, rules_);
        ledger.refresh();
        more = ledger.expire_slice(now_us, kSlice, slice);
      });
      report.lots += slice.lots;
      report.members += slice.members;
      report.points += slice.points;
    }
    return report;
  }

  TierPassReport tier_pass(std::int64_t now_us) override { return run_pass(now_us, "", false, {}, 0); }

  // The pass in slices from after member `after`; `daily`: the progress is kept in meta with each
  // slice, so that a pass cut short (a stop, an error) resumes where it was, and an instance that
  // runs it beside another continues from the other's progress (each member evaluated once a day).
  // `day`: the day (its start) a daily pass is for; it stops when the progress kept is another day's
  // (an instance began the next day's pass meanwhile: that one evaluates every member as of then).
  TierPassReport run_pass(std::int64_t now_us, std::string after, bool daily, const std::function<bool()>& stopping,
                          std::int64_t day) {
    TierPassReport report;
    while (!(stopping && stopping())) {
      TierPassReport slice;
      std::optional<std::string> last;
      bool done = false;
      backend_->write([&](Tx& tx) {
        slice = TierPassReport{};
        done = false;
        std::string from = after;
        tx.lock("tier pass");
        if (daily) {
          // Another instance may have run slices of today's pass since: go on from its progress.
          if (tx.meta_int("tier_pass_day") != day || tx.meta_int("tier_pass_done") == day) {
            done = true;
            last.reset();
            return;
          }
          from = tx.meta_text("tier_pass_after").value_or("");
        }
        Ledger ledger(tx, rules_);
        ledger.refresh();
        last = ledger.tier_pass_slice(now_us, from, kSlice, slice);
        if (daily && last) tx.set_meta("tier_pass_after", *last);
        if (daily && !last) tx.set_meta("tier_pass_done", day);
      });
      report.members += slice.members;
      report.upgraded += slice.upgraded;
      report.graced += slice.graced;
      report.downgraded += slice.downgraded;
      report.requalified += slice.requalified;
      report.changed += slice.changed;
      if (done || !last) break;
      after = *last;
    }
    return report;
  }

  std::optional<std::pair<ExpiryReport, std::optional<TierPassReport>>> daily(
      std::int64_t now_us, const std::function<bool()>& stopping) override {
    std::optional<TierPassReport> tiers;
    bool due = false, ruled = false;
    std::int64_t today = 0;
    backend_->write([&](Tx& tx) {
      due = ruled = false;
      tx.lock("tier pass");
      Ledger ledger(tx, rules_);
      ledger.refresh();
      const auto rules = ledger.current_rules();
      if (!rules) return;
      ruled = true;
      today = day_start(now_us, rules->utc_offset_minutes);
      // Never back to an earlier day: an instance whose clock is behind leaves a newer pass alone.
      if (tx.meta_int("tier_pass_day") > today) return;
      if (tx.meta_int("tier_pass_done") != today) {
        if (tx.meta_int("tier_pass_day") != today) {
          // A new day: its pass starts from the first member.
          tx.set_meta("tier_pass_day", today);
          tx.set_meta("tier_pass_after", std::string_view(""));
        }
        due = true;
      }
    });
    if (!ruled) return std::nullopt;
    if (due) tiers = run_pass(now_us, "", true, stopping, today);
    if (stopping && stopping()) return std::nullopt;
    ExpiryReport expired = expire(now_us);
    if (!tiers && expired.lots == 0) return std::nullopt;
    return std::make_pair(expired, tiers);
  }

  std::vector<IssuedCoupon> issue_coupons(const CouponIssue& issue, std::int64_t now_us) override {
    std::vector<IssuedCoupon> out;
    backend_->write([&](Tx& tx) {
      out.clear();
      std::vector<std::string> members;
      if (issue.tier) members = tx.members_of_tier(*issue.tier);
      for (const std::string& id : issue.members) {
        const std::string m = tx.resolve(id);
        if (!tx.member_exists(m)) throw std::runtime_error("no member " + id);
        members.push_back(m);
      }
      if (issue.code && members.size() != 1)
        throw std::runtime_error("--code gives one coupon: name exactly one member (" + std::to_string(members.size()) +
                                 " named)");
      out.reserve(members.size());
      for (const std::string& m : members) {
        std::string code;
        for (int attempt = 0;; ++attempt) {
          code = issue.code ? *issue.code : issue.prefix + random_code(12);
          if (!tx.coupon_exists(code)) break;
          if (issue.code || attempt > 8) throw std::runtime_error("coupon code " + code + " is issued already");
        }
        tx.insert_coupon(code, m, issue.definition, now_us);
        out.push_back(IssuedCoupon{m, code});
      }
    });
    return out;
  }

  std::vector<FlagRow> flags(bool include_closed, std::int64_t limit) override {
    return reading([&](Tx& tx) { return tx.flags(include_closed, limit); });
  }

  std::optional<MemberDetail> member_detail(std::string_view id) override {
    return reading([&](Tx& tx) { return tx.member_detail(id); });
  }

  std::vector<HeldRow> held(bool include_applied, std::int64_t limit) override {
    return reading([&](Tx& tx) { return tx.held(include_applied, limit); });
  }

  std::optional<HeldRow> held_txn(std::string_view id) override {
    return reading([&](Tx& tx) { return tx.held_txn(id); });
  }

  std::int64_t retry_waiting(std::int64_t now_us, std::int64_t limit) override {
    std::int64_t applied = 0;
    backend_->write([&](Tx& tx) {
      applied = 0;
      Ledger ledger(tx, rules_);
      Ingest ingest(tx, ledger, opener_, policy_, now_us);
      const std::vector<std::int64_t> rows = tx.waiting_rows(limit);
      for (const std::int64_t row : rows) {
        const auto before = tx.held_txn(std::to_string(row));
        const auto body = tx.txn_body(row);
        if (!before || before->status != "held" || !body) continue;  // released by one before it
        auto t = engine::detail::guarded([&] { return read_txn(engine::detail::parse_json(*body, "txn"), "txn"); });
        if (t) ingest.retry_held(row, *t, false, before->reason);
      }
      for (const std::int64_t row : rows)
        if (const auto after = tx.held_txn(std::to_string(row)); after && after->status != "held") ++applied;
    });
    return applied;
  }

  std::vector<HeldRow> retry_held(const std::vector<std::string>& ids, std::int64_t now_us, bool accept) override {
    std::vector<HeldRow> out;
    backend_->write([&](Tx& tx) {
      out.clear();
      std::vector<std::int64_t> rows;
      if (ids.empty()) {
        rows = tx.unapplied_rows();
      } else {
        for (const std::string& id : ids) {
          const auto row = tx.held_txn(id);
          if (!row) throw std::runtime_error("no held transaction " + id);
          if (row->id.front() == 'r')
            throw std::runtime_error(id + " has no transaction id of its own: it cannot be applied, only inspected");
          rows.push_back(std::stoll(row->id));
        }
        std::sort(rows.begin(), rows.end());
      }
      Ledger ledger(tx, rules_);
      Ingest ingest(tx, ledger, opener_, policy_, now_us);
      for (const std::int64_t row : rows) {
        const auto body = tx.txn_body(row);
        if (!body) throw store::StorageError("held transaction row " + std::to_string(row) + " is gone");
        const auto before = tx.held_txn(std::to_string(row));
        // Only what is held or refused is applied again: one applied, or a duplicate of one, never is.
        if (before && (before->status == "held" || before->status == "rejected")) {
          auto t = engine::detail::guarded([&] { return read_txn(engine::detail::parse_json(*body, "txn"), "txn"); });
          if (t) ingest.retry_held(row, *t, accept, before->reason);
        }
        if (auto after = tx.held_txn(std::to_string(row))) out.push_back(std::move(*after));
      }
    });
    return out;
  }

  std::vector<RegistryRow> registry() override { return reading([&](Tx& tx) { return tx.registry(); }); }

  bool register_store(const std::string& store_id, const std::string& fingerprint, std::int64_t now_us) override {
    bool added = false;
    backend_->write([&](Tx& tx) {
      added = false;
      // Pinning a certificate registers its store too (again, when it was revoked).
      if (!fingerprint.empty()) tx.insert_registry(store_id, "", now_us);
      added = tx.insert_registry(store_id, fingerprint, now_us);
    });
    return added;
  }

  bool revoke(const std::string& store_id, const std::string& fingerprint, std::int64_t now_us) override {
    std::int64_t changed = 0;
    backend_->write([&](Tx& tx) { changed = tx.revoke_registry(store_id, fingerprint, now_us); });
    return changed > 0;
  }

 private:
  // What `f` reads, in one read transaction.
  template <class F>
  std::invoke_result_t<F, Tx&> reading(F f) {
    std::invoke_result_t<F, Tx&> out{};
    backend_->read([&](Tx& tx) { out = f(tx); });
    return out;
  }

  // A new generation of this database (inside a write transaction): tills start their cursor over.
  std::string roll_generation(Tx& tx, std::string_view why, bool flag = true) {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("no randomness for a generation");
    static const char* const digits = "0123456789abcdef";
    std::string g = "g-";
    for (unsigned char c : b) (g += digits[c >> 4]) += digits[c & 15];
    tx.set_meta("generation", g);
    if (flag) {
      NewFlag f;
      f.kind = "new_generation";
      f.raised_us = wall_now_us();
      f.detail = nlohmann::ordered_json{{"generation", g}, {"why", std::string(why)}}.dump();
      tx.insert_flag(f);
    }
    return g;
  }

  std::unique_ptr<Backend> backend_;
  const EnrollmentOpener& opener_;
  LedgerPolicy policy_;
  RulesCache rules_;
};

}  // namespace

std::unique_ptr<Storage> make_storage(std::unique_ptr<Backend> backend, const EnrollmentOpener& opener,
                                      LedgerPolicy policy) {
  return std::make_unique<LedgerStorage>(std::move(backend), opener, policy);
}

}  // namespace loyalty::hq::detail
